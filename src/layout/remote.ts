/**
 * Shallow layouts: an OCI image layout that holds a manifest's index, manifest and config but not (some of) its layer
 * blobs, and says where each missing blob can be had, in one small file beside `index.json`:
 *
 *   pipeline-remote-blobs.json = {"mediaType": REMOTE_BLOBS_MEDIA_TYPE,
 *     "blobs": [{"mediaType", "digest", "size", "sources": ["registry/repository@sha256:<base>", ...]}, ...]}
 *
 * one entry per missing blob, sorted by digest, each with the references of the images it came from (the base as
 * pinned by digest: its registry and repository serve the blob, the digest names the base in errors). The file travels
 * with the layout (a Bazel tree artifact copies it), and tools that do not know it see an ordinary layout whose layer
 * blobs are absent. A layer read from such a layout is a Blob without a path whose open() fails naming the layer and
 * its sources; src/registry/remote-blobs.ts gives it bytes from the registry (push, run, verify-image). A layout written from
 * an image with such layers (writeLayout) carries their entries on, so `NAME_image` on a shallow base is shallow too.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { isDigest, type Digest } from "../oci/digest";
import type { Descriptor } from "../oci/types";
import { type Blob, type Image, type ImageIndex, isImageIndex } from "../oci/model";
import { MAX_LAYOUT_JSON_BYTES, readLayoutFile } from "./read-file";

export const REMOTE_BLOBS_FILE = "pipeline-remote-blobs.json";
export const REMOTE_BLOBS_MEDIA_TYPE = "application/vnd.rules-pipeline.remote-blobs.v1+json";

/**
 * The source of a layer whose bytes are in the Bazel remote cache the build uploaded its outputs to: an HTTP cache
 * keeps every output file under `/cas/<sha256 of its bytes>`, and a layer's digest is that hash, so the push that is
 * given the cache's URL (`--@rules_pipeline//bazel:remote_cache`, src/transfer/bazel-cache.ts) reads it there.
 */
export const BAZEL_CACHE_SOURCE = "bazel-remote-cache";

/**
 * `content` with every layer it holds marked remote, with the Bazel cache as its source (layers already remote keep
 * theirs): written with writeLayout, a layout of manifests, configs and the record, and no layer blob (the image
 * rule's `.push` layout, what a push reads under `--remote_download_minimal`). Digests are unchanged.
 */
export function withLayersInBazelCache<T extends Image | ImageIndex>(content: T): T {
  const image = (i: Image): Image => ({
    ...i,
    layers: i.layers.map((l) => (remoteSourcesOf(l) ? l : markRemote({ ...l }, [BAZEL_CACHE_SOURCE]))),
  });
  return isImageIndex(content) ? { ...content, images: content.images.map(image) } : (image(content as Image) as T);
}

/** A blob the layout does not hold: its descriptor and the references (`registry/repo@sha256:...`) that serve it. */
export interface RemoteBlob {
  mediaType: string;
  digest: Digest;
  size: number;
  sources: string[];
}

const remote = new WeakMap<Blob, string[]>();

/** Marks `blob` as one a layout need not hold: it can be had from `sources` (references). */
export function markRemote<T extends Blob>(blob: T, sources: readonly string[]): T {
  remote.set(blob, [...sources]);
  return blob;
}

/** The sources of a blob marked remote (markRemote, or read from a shallow layout); undefined for a local one. */
export function remoteSourcesOf(blob: Blob): string[] | undefined {
  return remote.get(blob);
}

/**
 * A blob of a shallow layout: no path, and open() fails (E_BASE_LAYER_MISSING) naming it and where it can be had,
 * until src/registry/remote-blobs.ts replaces it with one that streams from there.
 */
export function remoteBlob<T extends object>(desc: RemoteBlob, extra: T): Blob & T {
  const where = desc.sources.join(", ");
  const open = (): Readable => {
    const r = new Readable({ read() {} });
    process.nextTick(() =>
      r.destroy(
        new PipelineError(
          "E_BASE_LAYER_MISSING",
          `layer ${desc.digest} is not in this layout (a shallow base): it is in ${where}; this command does not ` +
            `fetch it (build on the base with layer_handling = "eager" for it)`,
        ),
      ),
    );
    return r;
  };
  return markRemote({ ...extra, digest: desc.digest, size: desc.size, mediaType: desc.mediaType, open }, desc.sources);
}

function bad(dir: string, what: string): PipelineError {
  return new PipelineError("E_LAYOUT", `OCI layout ${dir}: ${REMOTE_BLOBS_FILE}: ${what}`);
}

/** The remote blobs a layout records, by digest (none when it has no REMOTE_BLOBS_FILE). */
export function readRemoteBlobs(dir: string): Map<Digest, RemoteBlob> {
  const out = new Map<Digest, RemoteBlob>();
  const file = join(dir, REMOTE_BLOBS_FILE);
  if (!existsSync(file)) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readLayoutFile(file, MAX_LAYOUT_JSON_BYTES, `OCI layout ${dir}`).toString("utf8"));
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw bad(dir, "not valid JSON");
  }
  const doc = parsed as { mediaType?: unknown; blobs?: unknown };
  if (doc?.mediaType !== REMOTE_BLOBS_MEDIA_TYPE)
    throw bad(dir, `mediaType must be ${JSON.stringify(REMOTE_BLOBS_MEDIA_TYPE)}`);
  if (!Array.isArray(doc.blobs)) throw bad(dir, `"blobs" must be a list`);
  for (const [i, b] of (doc.blobs as unknown[]).entries()) {
    const e = b as Partial<Record<keyof RemoteBlob, unknown>>;
    const ok =
      typeof e?.mediaType === "string" &&
      typeof e.digest === "string" &&
      isDigest(e.digest) &&
      Number.isSafeInteger(e.size) &&
      (e.size as number) >= 0 &&
      Array.isArray(e.sources) &&
      e.sources.length > 0 &&
      e.sources.every((s) => typeof s === "string");
    if (!ok) throw bad(dir, `blobs[${i}] needs mediaType, a sha256 digest, a size and a non-empty list of sources`);
    const blob = e as RemoteBlob;
    out.set(blob.digest, {
      mediaType: blob.mediaType,
      digest: blob.digest,
      size: blob.size,
      sources: [...blob.sources],
    });
  }
  return out;
}

/** The record's text for `blobs` (sorted by digest, sources merged): the same blobs give the same bytes. */
export function remoteBlobsJson(blobs: readonly RemoteBlob[]): string {
  const byDigest = new Map<Digest, RemoteBlob>();
  for (const b of blobs) {
    const had = byDigest.get(b.digest);
    if (had) had.sources = [...new Set([...had.sources, ...b.sources])];
    else byDigest.set(b.digest, { ...b, sources: [...b.sources] });
  }
  const sorted = [...byDigest.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return JSON.stringify({
    mediaType: REMOTE_BLOBS_MEDIA_TYPE,
    blobs: sorted.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size, sources: b.sources })),
  });
}

/** Writes the record of `blobs` into layout `dir`; none (and no stale one) when there are none. */
export function writeRemoteBlobs(dir: string, blobs: readonly RemoteBlob[]): void {
  if (blobs.length > 0) writeFileSync(join(dir, REMOTE_BLOBS_FILE), remoteBlobsJson(blobs));
  else rmSync(join(dir, REMOTE_BLOBS_FILE), { force: true });
}

/** The record entry of a blob marked remote, or undefined. */
export function remoteEntryOf(blob: Blob): RemoteBlob | undefined {
  const sources = remote.get(blob);
  return sources && { mediaType: blob.mediaType, digest: blob.digest, size: blob.size, sources };
}

/** A descriptor's record entry, from `sources`. */
export function remoteEntry(desc: Descriptor, sources: readonly string[]): RemoteBlob {
  return { mediaType: desc.mediaType, digest: desc.digest, size: desc.size, sources: [...sources] };
}
