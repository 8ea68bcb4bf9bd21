/** Rendered objects as text: multi-document YAML (`---` between documents) or a JSON `v1 List`. */
import { stringify } from "yaml";
import { PipelineError } from "../errors";

export type ManifestFormat = "yaml" | "json";

export function parseFormat(s: string): ManifestFormat {
  if (s === "yaml" || s === "json") return s;
  throw new PipelineError("E_BAD_INPUT", `--output: expected yaml or json, got ${JSON.stringify(s)}`);
}

/** Key order is the objects' insertion order, so the same objects always print the same bytes. */
export function formatManifests(objects: readonly object[], format: ManifestFormat): string {
  if (format === "json") return JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2) + "\n";
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}
