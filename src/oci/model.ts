/** The Blob and Layer interfaces: content-addressed bytes that can be opened (again) as a stream. */
import type { Readable } from "node:stream";
import type { Digest } from "./digest";
import type { Descriptor } from "./types";

export interface Blob {
  /** sha256 of the bytes `open()` yields. */
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** A fresh stream of the (compressed) bytes; may be called many times. */
  open(): Readable;
  /** Where the bytes already sit on disk, if they do: sinks may hard-link instead of copying. */
  readonly path?: string;
}

/** Takes a chunk of a blob; the chunk's memory is reused once it returns. */
export type BlobConsumer = (chunk: Buffer) => void;

/** Hands a blob's bytes, in order, to a synchronous consumer; resolves once all were handed on (and checked out). */
export type BlobFeed = (consumer: BlobConsumer) => Promise<void>;

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: Digest;
  readonly annotations?: Record<string, string>;
}

export function descriptorOf(blob: Blob & { annotations?: Record<string, string> }): Descriptor {
  const d: Descriptor = { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
  if (blob.annotations && Object.keys(blob.annotations).length) d.annotations = blob.annotations;
  return d;
}
