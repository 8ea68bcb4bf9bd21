/** sha256 digests: compute and validate (streams are verified by ./verify). */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { PipelineError } from "../errors";
import { SHA256_DIGEST_RE } from "./grammar";

declare const DIGEST: unique symbol;
/**
 * A sha256 digest `sha256:<64 hex>`, known valid: made by sha256()/fileDigest() or checked once where it came in
 * (parseDigest, isDigest). A plain string at run time; the brand only keeps unchecked strings out.
 */
export type Digest = string & { readonly [DIGEST]: true };

export function sha256(data: Buffer | string): Digest {
  return ("sha256:" + createHash("sha256").update(data).digest("hex")) as Digest;
}

/** sha256 digest of a file's bytes, read in 1 MiB chunks. */
export async function fileDigest(path: string): Promise<Digest> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return ("sha256:" + h.digest("hex")) as Digest;
}

/** The digest of what a sha256 Hash has seen so far (of a copy: the hash can go on). */
export function hashDigest(h: Hash): Digest {
  return ("sha256:" + h.copy().digest("hex")) as Digest;
}

export function isDigest(s: string): s is Digest {
  return SHA256_DIGEST_RE.test(s);
}

/** `s` as a Digest, checked once at the edge it came in by; E_BAD_DIGEST naming `where` and the value otherwise. */
export function parseDigest(s: unknown, where: string): Digest {
  if (typeof s !== "string" || !isDigest(s)) {
    throw new PipelineError("E_BAD_DIGEST", `${where}: expected a digest "sha256:<64 hex>", got ${JSON.stringify(s)}`);
  }
  return s;
}

/**
 * The hex part of a digest: the file name of its blob in an OCI layout or a cache. The type says it was parsed; the
 * check stays anyway, because this is where a digest becomes a path (a value that slipped past the brand through
 * an unchecked cast of JSON must still never name a file outside our directories).
 */
export function digestHex(digest: Digest): string {
  return parseDigest(digest, "digest").slice("sha256:".length);
}
