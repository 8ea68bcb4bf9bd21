/**
 * Blob and Layer sources: bytes in memory, and files on disk whose digest is already known; and the two marks a
 * source puts on its blobs for the sinks (a layout's writeBlob): self-verifying, feedable.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { type Digest, sha256 } from "../oci/digest";
import type { Blob, BlobFeed, Layer } from "../oci/model";

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

const selfVerifying = new WeakSet<Blob>();

/**
 * Marks a blob whose open() stream checks its own bytes, as RegistryClient.openBlob does: it fails before its
 * end when digest or size are wrong. A layout's writeBlob then does not hash the bytes a second time. The mark is on this
 * object only: a copy with another open() (`{ ...blob, open }`) is hashed as usual.
 */
export function selfVerifyingBlob<T extends Blob>(blob: T): T {
  selfVerifying.add(blob);
  return blob;
}

const feeds = new WeakMap<Blob, BlobFeed>();

/**
 * Marks a blob whose bytes can also be handed to a synchronous consumer (`feed`), without a fresh buffer per chunk as
 * open()'s stream needs: a registry's layer (src/registry/blob-fetch.ts). A layout's writeBlob then writes it so. The same bytes
 * as open(); like selfVerifyingBlob's, the mark is on this object only (a copy with another open() streams).
 */
export function feedableBlob<T extends Blob>(blob: T, feed: BlobFeed): T {
  feeds.set(blob, feed);
  return blob;
}

/** Whether `blob` was marked by selfVerifyingBlob (its stream checks its own digest and size). */
export function isSelfVerifying(blob: Blob): boolean {
  return selfVerifying.has(blob);
}

/** The feed feedableBlob marked `blob` with, if any. */
export function feedOf(blob: Blob): BlobFeed | undefined {
  return feeds.get(blob);
}
