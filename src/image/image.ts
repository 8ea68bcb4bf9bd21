/** The Image interface: a manifest, its config and its layers, each addressable by digest. */
import type { Blob, Layer } from "../layer/layer";
import type { Digest } from "../oci/digest";
import type { ImageConfig, Manifest } from "../oci/types";

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
