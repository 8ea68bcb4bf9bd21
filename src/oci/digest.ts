/** sha256 digests: compute, validate, and a hashing pass-through stream. */
import { createHash, Hash } from "node:crypto";
import { Transform, TransformCallback } from "node:stream";
import { PipelineError } from "../errors";
import { SHA256_DIGEST_RE } from "./grammar";

export function sha256(data: Buffer | string): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
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

/** A pass-through stream that counts and hashes what flows through it. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  bytes = 0;
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  /** Valid once the stream has ended. */
  digest(): string {
    return "sha256:" + this.hash.copy().digest("hex");
  }
}
