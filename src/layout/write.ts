/**
 * Writes an image as an OCI image layout directory: oci-layout, index.json, blobs/sha256/<hex>. Blobs, and with
 * `atomic` the whole layout, are written under temporary names (src/process/temp.ts) and renamed into place; a
 * write first sweeps the temporary entries ended processes left for the same layout (src/process/temp.ts).
 */
import { promises as fsp, writeSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { finished, type Readable } from "node:stream";
import { PipelineError } from "../errors";
import { digestHex } from "../oci/digest";
import { Verifier } from "../oci/verifying-stream";
import { ANNOTATION_REF_NAME, type Descriptor, type Index, MediaType, OCI_LAYOUT_FILE } from "../oci/types";
import { type Blob, type BlobFeed, type Image, type ImageIndex, isImageIndex } from "../oci/model";
import { bufferBlob, feedOf, isSelfVerifying } from "../layer/blob";
import { forEachLimited } from "../concurrency";
import { holdTemp, tempPath } from "../process/temp";
import { sweepBeforeWrite } from "../process/temp";
import { remoteEntryOf, remoteSourcesOf, writeRemoteBlobs } from "./remote";
import { readLayoutWhole } from "./read";

export interface WriteLayoutOptions {
  /** Names the manifest in index.json (org.opencontainers.image.ref.name), e.g. a tag. */
  refName?: string;
  /**
   * Write into a temporary sibling directory and rename it into place at the end, so that a failure
   * never leaves a layout a later run would trust. `dir` may be absent, empty, or an OCI layout (replaced);
   * any other non-empty directory is refused rather than deleted. The new layout is read back whole in its
   * temporary directory first (readLayoutWhole): one a later command could not read never replaces `dir`.
   */
  atomic?: boolean;
  /** Hard-link blobs that already sit in a file (same filesystem) instead of copying them. Default true. */
  hardlink?: boolean;
  /** How many blobs to write at once. */
  concurrency?: number;
  /** index.json's bytes as they are (a layout copied whole keeps its own), instead of one naming the image. */
  indexJson?: Buffer;
}

/** Bytes gathered before one write(v) call: a 100 MB layer is ~100 writes, not one per 64 KiB socket read. */
const WRITE_BATCH = 1024 * 1024;

/**
 * Copies one blob into `blobsDir` through a temporary file that is renamed into place only once the bytes are
 * verified (hashed here, or by a self-verifying stream); hard-links when it can.
 */
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
  const tmp = tempPath(dest);
  const release = holdTemp(tmp);
  // A self-verifying blob checks its own digest as it streams: only its size is checked here.
  const check = new Verifier({
    expect: { digest: blob.digest, size: blob.size },
    hash: !isSelfVerifying(blob),
    label: `blob ${blob.digest}`,
  });
  const feed = feedOf(blob);
  try {
    if (feed) await feedToFile(feed, tmp, check);
    else await copyToFile(() => blob.open(), tmp, check);
    check.check();
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  } finally {
    release();
  }
}

/**
 * Streams `open()` into a new file at `path` in batches of WRITE_BATCH bytes, one write in flight while the
 * next batch gathers, each chunk counted (and hashed) by `check` on the way. Resolves once the stream ended (without
 * error) and every byte is written; on any failure (a chunk past the expected size included) the stream is
 * destroyed and the error thrown, after the write in flight, if any, has finished.
 */
async function copyToFile(open: () => Readable, path: string, check: Verifier): Promise<void> {
  const fh = await fsp.open(path, "w", 0o644);
  let inFlight: Promise<void> = Promise.resolve();
  try {
    await pour(open(), check, (bufs) => (inFlight = writeAll(fh, bufs)));
  } finally {
    await inFlight.catch(() => {});
    await fh.close();
  }
}

/**
 * Writes what `feed` hands on into a new file at `path`, each chunk counted (and hashed) by `check` and written before
 * the consumer returns (the feed reuses the chunk's memory). The writes are synchronous: into the page cache they take
 * microseconds, and a write in flight would have to hold the feed's buffer.
 */
async function feedToFile(feed: BlobFeed, path: string, check: Verifier): Promise<void> {
  const fh = await fsp.open(path, "w", 0o644);
  try {
    await feed((chunk) => {
      check.update(chunk);
      for (let at = 0; at < chunk.length; ) {
        const n = writeSync(fh.fd, chunk, at, chunk.length - at);
        if (n === 0) throw new PipelineError("E_LAYOUT_WRITE", `${path}: write made no progress`);
        at += n;
      }
    });
  } finally {
    await fh.close();
  }
}

/**
 * Reads `src` in flowing mode ('data' events; a for-await loop costs a promise and a read() per chunk, ~40 ms of
 * CPU over a 158 MB pull), hands `write` a batch of at least WRITE_BATCH bytes while no write is in flight, and
 * pauses `src` while a full batch waits for one. Resolves after the last write; rejects at the first error,
 * destroying `src`.
 */
export function pour(src: Readable, check: Verifier, write: (bufs: Buffer[]) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let batch: Buffer[] = [];
    let bytes = 0;
    let writing = false;
    let ended = false;
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      src.destroy();
      reject(e);
    };
    // Starts the write that is due (a full batch, or the rest once the stream ended); resolves when none is left.
    const next = () => {
      if (settled || writing) return;
      if (bytes >= WRITE_BATCH || (ended && bytes > 0)) {
        const bufs = batch;
        batch = [];
        bytes = 0;
        writing = true;
        write(bufs).then(() => {
          writing = false;
          if (!ended && src.isPaused()) src.resume();
          next();
        }, fail);
      } else if (ended) {
        settled = true;
        resolve();
      }
    };
    src.on("data", (chunk: Buffer) => {
      if (settled) return;
      try {
        check.update(chunk);
      } catch (e) {
        fail(e);
        return;
      }
      batch.push(chunk);
      bytes += chunk.length;
      if (bytes < WRITE_BATCH) return;
      if (writing) src.pause();
      else next();
    });
    finished(src, { writable: false }, (err) => {
      if (err) fail(err);
      else {
        ended = true;
        next();
      }
    });
  });
}

/** writev until every byte is down (a regular file may take a short write before failing with ENOSPC). */
async function writeAll(fh: fsp.FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs.filter((b) => b.length > 0);
  while (rest.length) {
    let { bytesWritten } = await fh.writev(rest);
    if (bytesWritten === 0) throw new PipelineError("E_LAYOUT_WRITE", "write made no progress");
    const next: Buffer[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        next.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    rest = next;
  }
}

export function layoutIndex(image: Image | ImageIndex, refName?: string): Index {
  const size = isImageIndex(image) ? image.bytes.length : image.manifestBytes.length;
  const desc: Descriptor = { mediaType: image.mediaType, digest: image.digest, size };
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
    throw new PipelineError(
      "E_LAYOUT_WRITE",
      `refusing to replace ${dir}: it is a non-empty directory that is not an OCI layout`,
    );
  }
}

/**
 * Every blob of an image (config, layers, manifest), or of each image of an index and the index itself; once each:
 * what writeLayout writes (pulls check the disk against their sizes first).
 */
export function layoutBlobs(image: Image | ImageIndex): Blob[] {
  const one = (i: Image): Blob[] => [i.configBlob, ...i.layers, bufferBlob(i.manifestBytes, i.mediaType)];
  const all = isImageIndex(image)
    ? [...image.images.flatMap(one), bufferBlob(image.bytes, image.mediaType)]
    : one(image);
  // Of blobs with the same digest, one the layout can hold (not a shallow base's, src/layout/remote.ts) is kept.
  const local = new Set(all.filter((b) => !remoteSourcesOf(b)).map((b) => b.digest));
  const seen = new Set<string>();
  return all.filter((b) => (!local.has(b.digest) || !remoteSourcesOf(b)) && !seen.has(b.digest) && seen.add(b.digest));
}

/** E_LAYOUT naming `dir` (left as it was) unless the layout written at `target` reads back whole. */
function readBack(target: string, dir: string): void {
  try {
    readLayoutWhole(target);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    throw new PipelineError(
      e.code,
      `OCI layout ${dir}: the layout written for it does not read back, so it did not replace ${dir}: ${e.message}`,
    );
  }
}

/**
 * Writes an image, or a multi-platform index and its images (index.json then names the index, as skopeo's
 * `copy --all` and rules_oci write it), as an OCI layout.
 */
export async function writeLayout(
  dir: string,
  image: Image | ImageIndex,
  opts: WriteLayoutOptions = {},
): Promise<void> {
  if (opts.atomic) await assertReplaceable(dir);
  const target = opts.atomic ? tempPath(dir) : dir;
  const release = opts.atomic ? holdTemp(target) : () => undefined;
  const blobsDir = join(target, "blobs", "sha256");
  // What killed writers of this same layout left: its temporary siblings, or blobs being written into it.
  await sweepBeforeWrite(opts.atomic ? dirname(dir) : blobsDir, opts.atomic ? { only: basename(dir) } : {});
  try {
    await fsp.mkdir(blobsDir, { recursive: true });
    // A shallow base's layers are not written: their descriptors and sources go to the record beside index.json.
    const blobs = layoutBlobs(image);
    // Every image's entry (platforms sharing a layer each name their own source), unless the layout holds the blob.
    const held = new Set(blobs.filter((b) => !remoteSourcesOf(b)).map((b) => b.digest));
    const remote = (isImageIndex(image) ? image.images : [image])
      .flatMap((i) => i.layers.flatMap((l) => remoteEntryOf(l) ?? []))
      .filter((e) => !held.has(e.digest));
    await forEachLimited(
      blobs.filter((b) => !remoteSourcesOf(b)),
      opts.concurrency ?? 4,
      (b) => writeBlob(blobsDir, b, opts.hardlink ?? true),
    );
    writeRemoteBlobs(target, remote);
    await fsp.writeFile(join(target, "oci-layout"), JSON.stringify(OCI_LAYOUT_FILE));
    await fsp.writeFile(join(target, "index.json"), opts.indexJson ?? JSON.stringify(layoutIndex(image, opts.refName)));
    if (opts.atomic) {
      readBack(target, dir);
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rename(target, dir);
    }
  } catch (e) {
    if (opts.atomic) await fsp.rm(target, { recursive: true, force: true });
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_LAYOUT_WRITE", `cannot write OCI layout ${dir}: ${(e as Error).message}`, { cause: e });
  } finally {
    release();
  }
}
