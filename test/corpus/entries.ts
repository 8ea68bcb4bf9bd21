/**
 * Layers of many small entries (issue #24: entry floods, whiteouts by the hundred thousand): `count` ustar headers
 * named by `name(i)`, empty files unless the name is a whiteout (also an empty file, as the spec writes them). The
 * headers are gzipped in batches of 10,000, each batch its own gzip member, so the blob is small and built in
 * a few seconds per million entries (~10 MB); the diff_id is hashed batch by batch.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { hashDigest } from "../../src/oci/digest";
import { type Bomb, ustarHeader } from "./bombs";

const BATCH = 10_000;

export function entriesLayer(path: string, count: number, name: (i: number) => string): Bomb {
  const blobs: Buffer[] = [];
  const blobHash = createHash("sha256");
  const tarHash = createHash("sha256");
  let expanded = 0;
  const emit = (raw: Buffer) => {
    const gz = gzipSync(raw, { level: 1 });
    blobs.push(gz);
    blobHash.update(gz);
    tarHash.update(raw);
    expanded += raw.length;
  };
  for (let start = 0; start < count; start += BATCH) {
    const headers: Buffer[] = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) headers.push(ustarHeader("0", name(i), 0));
    emit(Buffer.concat(headers));
  }
  emit(Buffer.alloc(1024));
  const blob = Buffer.concat(blobs);
  writeFileSync(path, blob);
  return { path, digest: hashDigest(blobHash), size: blob.length, diffId: hashDigest(tarHash), expanded };
}
