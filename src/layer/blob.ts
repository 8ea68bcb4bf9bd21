/** Blob and Layer sources: bytes in memory, and files on disk whose digest is already known. */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { type Digest, sha256 } from "../oci/digest";
import type { Blob, Layer } from "../oci/model";

export function bufferBlob(bytes: Buffer, mediaType: string): Blob {
  const digest = sha256(bytes);
  return { digest, size: bytes.length, mediaType, open: () => Readable.from([bytes]) };
}

/** A blob stored in a file. The caller vouches for digest and size (they are verified where it is copied). */
export function fileBlob(path: string, digest: Digest, size: number, mediaType: string): Blob {
  return { digest, size, mediaType, path, open: () => createReadStream(path) };
}

export function fileLayer(
  path: string,
  desc: { digest: Digest; size: number; mediaType: string; diffId: Digest; annotations?: Record<string, string> },
): Layer {
  return {
    ...fileBlob(path, desc.digest, desc.size, desc.mediaType),
    diffId: desc.diffId,
    annotations: desc.annotations,
  };
}
