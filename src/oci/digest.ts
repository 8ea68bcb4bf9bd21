/** sha256 digests: compute and validate (streams are verified by ./verify). */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { PipelineError } from "../errors";
import { SHA256_DIGEST_RE } from "./grammar";

export function sha256(data: Buffer | string): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

/** sha256 digest of a file's bytes, read in 1 MiB chunks. */
export async function fileDigest(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return "sha256:" + h.digest("hex");
}

export function isDigest(s: string): boolean {
  return SHA256_DIGEST_RE.test(s);
}

/** Throws a clear error unless `s` is a sha256 digest. `what` names the field that held it. */
export function assertDigest(s: unknown, what: string): string {
  if (typeof s !== "string" || !SHA256_DIGEST_RE.test(s)) {
    throw new PipelineError("E_BAD_DIGEST", `${what}: expected a digest "sha256:<64 hex>", got ${JSON.stringify(s)}`);
  }
  return s;
}

/** The hex part of a digest (the blob's file name in an OCI layout). */
export function digestHex(digest: string): string {
  return assertDigest(digest, "digest").slice("sha256:".length);
}
