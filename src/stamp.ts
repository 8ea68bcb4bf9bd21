/**
 * Stamping, as rules_oci does it: Bazel's workspace status files (`bazel-out/stable-status.txt` and
 * `volatile-status.txt`, written by `--workspace_status_command` under `--stamp`) are lines `KEY VALUE`, and
 * `{KEY}` in a tag, label or annotation is replaced by that key's value.
 *
 * Choices: a key whose value is empty counts as missing (Bazel writes `BUILD_EMBED_LABEL` with an empty value
 * when `--embed_label` is not given, and an empty tag is no tag); a template with any missing key is not half
 * expanded but reported, so the caller skips it and says which keys were missing. Unstamped builds have no status
 * at all: every placeholder is missing, and nothing that has none changes, so their digests stay reproducible.
 */
import { readFileSync } from "node:fs";
import { PipelineError, redactUrl } from "./errors";
import { rfc3339 } from "./image/compose";

export type StampValues = ReadonlyMap<string, string>;

/** `{KEY}`: a workspace status key (letters, digits, `_`). */
export const PLACEHOLDER_RE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The OCI annotations a stamped image gets, and the status key each comes from. */
export const STAMP_ANNOTATIONS: readonly { annotation: string; key: string; transform?: (v: string) => string }[] = [
  { annotation: "org.opencontainers.image.revision", key: "STABLE_GIT_COMMIT" },
  // A clone's remote URL may hold a token (`https://x-access-token:TOKEN@github.com/...`): the published one does not.
  { annotation: "org.opencontainers.image.source", key: "STABLE_SOURCE_URL", transform: (v) => redactUrl(v, "strip") },
  { annotation: "org.opencontainers.image.version", key: "BUILD_EMBED_LABEL" },
  {
    annotation: "org.opencontainers.image.created",
    key: "BUILD_TIMESTAMP",
    transform: (v) => (/^\d+$/.test(v) ? rfc3339(Number(v)) : v),
  },
];

/** Parses status file texts (`KEY VALUE` lines; a later file wins for a key both set). */
export function parseStatus(texts: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      const l = line.replace(/\r$/, "");
      if (!l.trim()) continue;
      const sp = l.indexOf(" ");
      const key = sp < 0 ? l : l.slice(0, sp);
      const value = sp < 0 ? "" : l.slice(sp + 1);
      if (value !== "") out.set(key, value);
      else out.delete(key);
    }
  }
  return out;
}

/** Reads status files named by `what` (a flag or a config field, for the error). */
export function readStatusFiles(paths: string[], what: string): Map<string, string> {
  return parseStatus(
    paths.map((p) => {
      try {
        return readFileSync(p, "utf8");
      } catch (e) {
        throw new PipelineError(
          "E_STAMP",
          `${what} ${p}: cannot read the workspace status file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
    }),
  );
}

export function hasPlaceholder(template: string): boolean {
  return new RegExp(PLACEHOLDER_RE.source).test(template);
}

export type Expansion = { ok: true; value: string } | { ok: false; missing: string[] };

/** Replaces every `{KEY}`; `values` undefined means unstamped (every key missing). */
export function expand(template: string, values: StampValues | undefined): Expansion {
  const missing: string[] = [];
  const value = template.replace(PLACEHOLDER_RE, (whole, key: string) => {
    const v = values?.get(key);
    if (v === undefined) {
      if (!missing.includes(key)) missing.push(key);
      return whole;
    }
    return v;
  });
  return missing.length ? { ok: false, missing } : { ok: true, value };
}

export interface Skipped {
  template: string;
  missing: string[];
}

/** Expands the values of a dict (labels, annotations); entries with a missing key are left out. */
export function expandDict(
  dict: Record<string, string>,
  values: StampValues | undefined,
): { values: Record<string, string>; skipped: (Skipped & { key: string })[] } {
  const out: Record<string, string> = {};
  const skipped: (Skipped & { key: string })[] = [];
  for (const [k, t] of Object.entries(dict)) {
    const e = expand(t, values);
    if (e.ok) out[k] = e.value;
    else skipped.push({ key: k, template: t, missing: e.missing });
  }
  return { values: out, skipped };
}

/** The OCI annotations of a stamped build: those whose status key is set. */
export function stampAnnotations(values: StampValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { annotation, key, transform } of STAMP_ANNOTATIONS) {
    const v = values.get(key);
    if (v !== undefined) out[annotation] = transform ? transform(v) : v;
  }
  return out;
}

/** `skipping tag "{X}": ...` — why a template was left out. */
export function describeSkip(kind: string, s: Skipped, stamped: boolean): string {
  const keys = s.missing.map((k) => `{${k}}`).join(", ");
  return stamped
    ? `skipping ${kind} ${JSON.stringify(s.template)}: the workspace status has no value for ${keys}`
    : `skipping ${kind} ${JSON.stringify(s.template)}: not stamped (build with --stamp and a --workspace_status_command that sets ${keys})`;
}
