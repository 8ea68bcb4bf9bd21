/**
 * Images in an OCI image layout on this machine, `oci:DIR[@sha256:...]` (what `bazel build //pkg:NAME_image`
 * writes before anything is pushed): the one grammar `pipeline run --image` reads them with, with or without a
 * spec, and the pin that turns one into the manifest digest that runs.
 *
 *  - Grammar: what follows `oci:` is the directory, a relative one taken from the caller's working directory. A
 *    last `@` followed by `ALGORITHM:` starts a digest, which must then be a sha256 digest (src/oci/grammar.ts;
 *    E_BAD_REFERENCE otherwise, rather than reading `DIR@sha256:abc` as a directory name). skopeo's
 *    `oci:DIR:NAME` is not this form (`pipeline push` and `inspect` take it).
 *  - Pin: without a digest, the layout's only image (a nested index is followed to the platform's manifest); with
 *    one, the manifest index.json lists under it, or the only image when that is its digest. Any other digest is
 *    E_DIGEST_MISMATCH naming what was asked for and what the layout holds.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PipelineError } from "../errors";
import { readLayout } from "../layout/read";
import { type Digest, isDigest } from "../oci/digest";
import { SHA256_DIGEST_GRAMMAR } from "../oci/grammar";

export const LAYOUT_PREFIX = "oci:";

/** A local layout and, optionally, the manifest to run from it. */
export interface LayoutImage {
  /** Absolute path of the layout directory. */
  dir: string;
  digest?: Digest;
}

export function isLayoutReference(s: string): boolean {
  return s.startsWith(LAYOUT_PREFIX);
}

function badReference(what: string, input: string, problem: string): PipelineError {
  return new PipelineError("E_BAD_REFERENCE", `${what}: ${problem}, got ${JSON.stringify(input)}`);
}

/** `oci:DIR[@sha256:...]` → the absolute directory and the digest; E_BAD_REFERENCE naming `what` and the input. */
export function parseLayoutReference(input: string, what = "image", cwd = process.cwd()): LayoutImage {
  if (!isLayoutReference(input))
    throw badReference(what, input, `expected oci:DIR or oci:DIR@${SHA256_DIGEST_GRAMMAR}`);
  let dir = input.slice(LAYOUT_PREFIX.length);
  let digest: Digest | undefined;
  const at = dir.lastIndexOf("@");
  // `@` + a digest algorithm (the distribution spec's `algorithm:`, in any case) starts a digest, well-formed or not.
  if (at >= 0 && /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:/i.test(dir.slice(at + 1))) {
    const given = dir.slice(at + 1);
    dir = dir.slice(0, at);
    if (!isDigest(given))
      throw badReference(what, input, `digest must be "${SHA256_DIGEST_GRAMMAR}" (got ${JSON.stringify(given)})`);
    digest = given;
  }
  if (!dir)
    throw badReference(what, input, `expected oci:DIR or oci:DIR@${SHA256_DIGEST_GRAMMAR} (no directory given)`);
  if (/[\u0000-\u001f\u007f]/.test(dir))
    throw badReference(what, input, "the layout directory contains a control character");
  return digest ? { dir: resolve(cwd, dir), digest } : { dir: resolve(cwd, dir) };
}

export function formatLayoutReference(l: LayoutImage): string {
  return `${LAYOUT_PREFIX}${l.dir}${l.digest ? `@${l.digest}` : ""}`;
}

/** The digests index.json lists (E_LAYOUT, as readLayout says it, when DIR is not a layout). */
function listedDigests(dir: string): string[] {
  if (!existsSync(join(dir, "oci-layout"))) readLayout(dir); // throws "... is not an OCI image layout"
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests?: unknown };
  } catch (e) {
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: cannot read index.json: ${(e as Error).message}`);
  }
  const manifests =
    index !== null && typeof index === "object" && Array.isArray(index.manifests) ? (index.manifests as unknown[]) : [];
  return manifests
    .map((m) => (m !== null && typeof m === "object" ? (m as { digest?: unknown }).digest : undefined))
    .filter((d): d is string => typeof d === "string");
}

/** The manifest digest `l` runs (see the module comment); `what` names the flag or field in messages. */
export function pinLayoutImage(
  l: LayoutImage,
  opts: { what?: string; platform?: { os: string; architecture: string } } = {},
): Digest {
  const platform = opts.platform && { os: opts.platform.os, architecture: opts.platform.architecture };
  if (!l.digest) return readLayout(l.dir, { platform }).digest;
  const listed = listedDigests(l.dir);
  if (listed.includes(l.digest)) return l.digest;
  const held = [...listed];
  if (listed.length === 1) {
    const only = readLayout(l.dir, { platform }).digest;
    if (only === l.digest) return only;
    if (!held.includes(only)) held.push(only);
  }
  throw new PipelineError(
    "E_DIGEST_MISMATCH",
    `${opts.what ?? "image"} ${formatLayoutReference(l)}: the layout holds ${held.join(", ") || "no manifest"}, not ${l.digest}`,
  );
}
