/**
 * Descriptors that come in as JSON (a registry's answer, a layout's index.json or blobs): their digests parsed once
 * here, so that a `Descriptor` anywhere else carries a `Digest` known valid (a blob path, a URL path, a message).
 */
import { PipelineError } from "../errors";
import { parseDigest } from "./digest";
import type { Descriptor, Index, Manifest } from "./types";

/** Whether parsed JSON is an object (not null, not a list). */
export function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** `d` as a Descriptor once its digest is parsed: E_BAD_DIGEST naming `where` and the value otherwise. */
export function parseDescriptor(d: unknown, where: string): Descriptor {
  if (!isObject(d)) throw new PipelineError("E_BAD_DIGEST", `${where}: expected a descriptor (a JSON object), got ${JSON.stringify(d)}`);
  parseDigest(d.digest, `${where}.digest`);
  return d as unknown as Descriptor;
}

/**
 * Parsed JSON as a Manifest once the digests of its config, layers and subject are parsed (E_BAD_DIGEST naming
 * `where` and the descriptor); undefined when it is not shaped like an image manifest (an object with a `config`
 * object and a `layers` list), which each caller reports with its own code.
 */
export function parseManifestDescriptors(doc: unknown, where: string): Manifest | undefined {
  if (!isObject(doc) || !isObject(doc.config) || !Array.isArray(doc.layers)) return undefined;
  parseDescriptor(doc.config, `${where}: config`);
  for (const [i, l] of doc.layers.entries()) parseDescriptor(l, `${where}: layers[${i}]`);
  if (doc.subject !== undefined) parseDescriptor(doc.subject, `${where}: subject`);
  return doc as unknown as Manifest;
}

/** Parsed JSON as an Index once its entries' (and subject's) digests are parsed; undefined when it has no `manifests` list. */
export function parseIndexDescriptors(doc: unknown, where: string): Index | undefined {
  if (!isObject(doc) || !Array.isArray(doc.manifests)) return undefined;
  for (const [i, d] of doc.manifests.entries()) parseDescriptor(d, `${where}: manifests[${i}]`);
  if (doc.subject !== undefined) parseDescriptor(doc.subject, `${where}: subject`);
  return doc as unknown as Index;
}
