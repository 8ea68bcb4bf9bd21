export const label: string = "esm";
