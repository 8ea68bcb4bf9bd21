/** One environment variable of the contract (catalogue.ts): who sets it, who reads it, its format, what it does. */
export interface EnvVarDoc {
  /** Who sets it: users (and how), or the file of ours that does. */
  setBy: string;
  /** Who reads it (files named as repository paths, which the catalogue's test checks exist). */
  readBy: string;
  /** What a value looks like. */
  format: string;
  /** What it does. */
  meaning: string;
}
