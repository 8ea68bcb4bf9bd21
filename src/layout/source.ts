/** Where a layout's image came from, kept in index.json so that a push can mount its blobs from there. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readIndexJson } from "./read";

/** On the manifest's descriptor in index.json: the reference the image was pulled from (`registry/repo@digest`). */
export const SOURCE_ANNOTATION = "org.opencontainers.image.base.name";

export function sourceOfLayout(dir: string): string | undefined {
  try {
    const index = readIndexJson(dir);
    return index.manifests?.[0]?.annotations?.[SOURCE_ANNOTATION];
  } catch {
    return undefined;
  }
}

export function recordLayoutSource(dir: string, reference: string): void {
  const file = join(dir, "index.json");
  const index = readIndexJson(dir);
  for (const m of index.manifests) m.annotations = { ...(m.annotations ?? {}), [SOURCE_ANNOTATION]: reference };
  writeFileSync(file, JSON.stringify(index));
}
