/** Writes an image as an OCI image layout directory: oci-layout, index.json, blobs/sha256/<hex>. */
import { createWriteStream, promises as fsp } from "node:fs";
import { dirname, join, basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { PipelineError } from "../errors";
import { HashingStream, digestHex } from "../oci/digest";
import { ANNOTATION_REF_NAME, Descriptor, Index, MediaType, OCI_LAYOUT_FILE } from "../oci/types";
import type { Blob } from "../layer/layer";
import { bufferBlob } from "../layer/blob";
import { forEachLimited } from "../concurrency";
import type { Image } from "../image/image";

export interface WriteLayoutOptions {
  /** Names the manifest in index.json (org.opencontainers.image.ref.name), e.g. a tag. */
  refName?: string;
  /**
   * Write into a temporary sibling directory and rename it into place at the end, so that a failure
   * never leaves a layout a later run would trust. `dir` may be absent, empty, or an OCI layout (replaced);
   * any other non-empty directory is refused rather than deleted.
   */
  atomic?: boolean;
  /** Hard-link blobs that already sit in a file (same filesystem) instead of copying them. Default true. */
  hardlink?: boolean;
  /** How many blobs to write at once. */
  concurrency?: number;
}

/** Copies one blob into `blobsDir`, verifying its digest and size on the way; hard-links when it can. */
export async function writeBlob(blobsDir: string, blob: Blob, hardlink = true): Promise<void> {
  const dest = join(blobsDir, digestHex(blob.digest));
  try {
    const st = await fsp.stat(dest);
    if (st.size === blob.size) return; // content-addressed: already there
  } catch {
    /* absent */
  }
  if (hardlink && blob.path) {
    try {
      // Resolve first: Linux link() does not follow symlinks, and Bazel's sandbox hands inputs over as symlinks
      // to absolute paths, which must never end up in an output.
      await fsp.link(await fsp.realpath(blob.path), dest);
      return;
    } catch {
      /* cross-device or unsupported: copy */
    }
  }
  const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const hasher = new HashingStream();
  try {
    await pipeline(blob.open(), hasher, createWriteStream(tmp, { mode: 0o644 }));
    if (hasher.digest() !== blob.digest || hasher.bytes !== blob.size) {
      throw new PipelineError(
        "E_DIGEST_MISMATCH",
        `blob ${blob.digest}: content has digest ${hasher.digest()} and ${hasher.bytes} bytes, expected ${blob.size} bytes`,
      );
    }
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

export function layoutIndex(image: Image, refName?: string): Index {
  const desc: Descriptor = { mediaType: image.mediaType, digest: image.digest, size: image.manifestBytes.length };
  if (refName) desc.annotations = { [ANNOTATION_REF_NAME]: refName };
  return { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [desc] };
}

async function assertReplaceable(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch {
    return; // absent
  }
  if (entries.length > 0 && !entries.includes("oci-layout")) {
    throw new PipelineError("E_LAYOUT_WRITE", `refusing to replace ${dir}: it is a non-empty directory that is not an OCI layout`);
  }
}

export async function writeLayout(dir: string, image: Image, opts: WriteLayoutOptions = {}): Promise<void> {
  if (opts.atomic) await assertReplaceable(dir);
  const target = opts.atomic ? join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`) : dir;
  const blobsDir = join(target, "blobs", "sha256");
  try {
    await fsp.mkdir(blobsDir, { recursive: true });
    const blobs: Blob[] = [image.configBlob, ...image.layers, bufferBlob(image.manifestBytes, image.mediaType)];
    await forEachLimited(blobs, opts.concurrency ?? 4, (b) => writeBlob(blobsDir, b, opts.hardlink ?? true));
    await fsp.writeFile(join(target, "oci-layout"), JSON.stringify(OCI_LAYOUT_FILE));
    await fsp.writeFile(join(target, "index.json"), JSON.stringify(layoutIndex(image, opts.refName)));
    if (opts.atomic) {
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rename(target, dir);
    }
  } catch (e) {
    if (opts.atomic) await fsp.rm(target, { recursive: true, force: true });
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_LAYOUT_WRITE", `cannot write OCI layout ${dir}: ${(e as Error).message}`, { cause: e });
  }
}
