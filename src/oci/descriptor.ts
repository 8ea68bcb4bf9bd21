/**
 * Descriptors that come in as JSON (a registry's answer, a layout's index.json or blobs, a pushed manifest, a model
 * artifact): checked once here, so that a `Descriptor` anywhere else carries a `Digest` known valid (a blob path, a
 * URL path, a message), a size that is a non-negative integer (what a download may read, what a layer file must
 * be) and a media type in RFC 6838's grammar (what is answered as a Content-Type). `descriptorProblem` is the check;
 * `parseDescriptor` throws on it, with the caller's error when it has its own (the dev registry's MANIFEST_INVALID,
 * the model's E_MODEL_ARTIFACT).
 */
import { PipelineError } from "../errors";
import { isDigest } from "./digest";
import { isMediaType, MEDIA_TYPE_GRAMMAR } from "./grammar";
import type { Descriptor, Index, Manifest } from "./types";

/** Whether parsed JSON is an object (not null, not a list). */
export function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** What is wrong with a descriptor: the field (`""` for the descriptor itself), what it should be, what it is. */
export interface DescriptorProblem {
  field: "" | "digest" | "size" | "mediaType" | "urls";
  expected: string;
  value: unknown;
}

/** The first thing wrong with `d` as a descriptor (digest, size, media type, urls), or undefined. */
export function descriptorProblem(d: unknown): DescriptorProblem | undefined {
  if (!isObject(d)) return { field: "", expected: "a descriptor (a JSON object)", value: d };
  if (typeof d.digest !== "string" || !isDigest(d.digest))
    return { field: "digest", expected: `a digest "sha256:<64 hex>"`, value: d.digest };
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    return { field: "size", expected: "a size in bytes (a non-negative integer)", value: d.size };
  }
  if (!isMediaType(d.mediaType)) return { field: "mediaType", expected: MEDIA_TYPE_GRAMMAR, value: d.mediaType };
  if (d.urls !== undefined && (!Array.isArray(d.urls) || d.urls.some((u) => typeof u !== "string"))) {
    return { field: "urls", expected: "a list of strings", value: d.urls };
  }
  return undefined;
}

/** `where` and the field, as messages name them: `manifest X: layers[0].size`. */
export function problemField(where: string, p: DescriptorProblem): string {
  return p.field ? `${where}.${p.field}` : where;
}

/** The default error: E_BAD_DIGEST for a digest (as every digest that comes in), E_BAD_DESCRIPTOR for the rest. */
function defaultFail(p: DescriptorProblem, where: string): Error {
  return new PipelineError(
    p.field === "digest" ? "E_BAD_DIGEST" : "E_BAD_DESCRIPTOR",
    `${problemField(where, p)}: expected ${p.expected}, got ${JSON.stringify(p.value) ?? "nothing"}`,
  );
}

/** `d` as a Descriptor once its digest, size and media type are checked; `fail` builds the error (default above). */
export function parseDescriptor(
  d: unknown,
  where: string,
  fail: (p: DescriptorProblem, where: string) => Error = defaultFail,
): Descriptor {
  const problem = descriptorProblem(d);
  if (problem) throw fail(problem, where);
  // Checked above: digest, size, mediaType and urls; the optional rest (annotations, platform) is read where used.
  return d as unknown as Descriptor;
}

/**
 * Parsed JSON as a Manifest once its config, layers and subject are checked descriptors (E_BAD_DIGEST or
 * E_BAD_DESCRIPTOR naming `where` and the descriptor); undefined when it is not shaped like an image manifest (an
 * object with a `config` object and a `layers` list), which each caller reports with its own code.
 */
export function parseManifestDescriptors(doc: unknown, where: string): Manifest | undefined {
  if (!isObject(doc) || !isObject(doc.config) || !Array.isArray(doc.layers)) return undefined;
  const sizes = new OneSizePerDigest(where);
  sizes.add(parseDescriptor(doc.config, `${where}: config`), "config");
  for (const [i, l] of doc.layers.entries()) sizes.add(parseDescriptor(l, `${where}: layers[${i}]`), `layers[${i}]`);
  if (doc.subject !== undefined) parseDescriptor(doc.subject, `${where}: subject`);
  return doc as unknown as Manifest;
}

/**
 * One content has one size: a manifest (or index) naming one digest with two sizes names content that cannot exist,
 * and whichever size a reader trusts, the other entry fails later, after something was written (issue #72: a shallow
 * pull wrote such a manifest into a layout no command could read, over a good one). E_DIGEST_MISMATCH, as a pull
 * that downloads the blob finds it.
 */
class OneSizePerDigest {
  private readonly seen = new Map<string, { size: number; field: string }>();

  constructor(private readonly where: string) {}

  add(d: Descriptor, field: string): void {
    const had = this.seen.get(d.digest);
    if (!had) {
      this.seen.set(d.digest, { size: d.size, field });
      return;
    }
    if (had.size !== d.size)
      throw new PipelineError(
        "E_DIGEST_MISMATCH",
        `${this.where}: ${field}: ${d.digest} is listed with size ${d.size}, and with size ${had.size} at ${had.field}: one content cannot have two sizes`,
      );
  }
}

/** Parsed JSON as an Index once its entries (and subject) are checked descriptors; undefined when it has no `manifests` list. */
export function parseIndexDescriptors(doc: unknown, where: string): Index | undefined {
  if (!isObject(doc) || !Array.isArray(doc.manifests)) return undefined;
  const sizes = new OneSizePerDigest(where);
  for (const [i, d] of doc.manifests.entries())
    sizes.add(parseDescriptor(d, `${where}: manifests[${i}]`), `manifests[${i}]`);
  if (doc.subject !== undefined) parseDescriptor(doc.subject, `${where}: subject`);
  return doc as unknown as Index;
}
