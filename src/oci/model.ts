/**
 * The data model's nouns, in one place (as go-containerregistry's pkg/v1): a `Blob` (content-addressed bytes that can
 * be opened again as a stream), a `Layer` (a blob with its diff_id), the `BlobConsumer`/`BlobFeed` pair blobs travel
 * through, an `Image` (a manifest, its config and its layers) and an `ImageIndex` (a multi-platform image). Interfaces
 * only, and the two functions that read them: `descriptorOf`, `isImageIndex`.
 */
import type { Readable } from "node:stream";
import type { Digest } from "./digest";
import type { Descriptor, ImageConfig, Index, Manifest } from "./types";

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

/** An image: a manifest, its config and its layers, each addressable by digest. */
export interface Image {
  /** The manifest's exact bytes: its digest is the image's digest. */
  readonly manifestBytes: Buffer;
  readonly manifest: Manifest;
  /** sha256 of manifestBytes. */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly configBytes: Buffer;
  readonly config: ImageConfig;
  /** The config blob (its bytes are configBytes). */
  readonly configBlob: Blob;
  /** Layers in manifest order. */
  readonly layers: readonly Layer[];
}

/** A multi-platform image: an OCI image index and the image of each platform it lists. */
export interface ImageIndex {
  /** The index's exact bytes: its digest is the multi-platform image's digest. */
  readonly bytes: Buffer;
  readonly index: Index;
  /** sha256 of bytes. */
  readonly digest: Digest;
  readonly mediaType: string;
  /** The image of each entry of `index.manifests`, in the same order. */
  readonly images: readonly Image[];
}

export function isImageIndex(x: Image | ImageIndex): x is ImageIndex {
  return Array.isArray((x as ImageIndex).images);
}
