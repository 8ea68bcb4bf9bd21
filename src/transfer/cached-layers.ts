/**
 * The layers a shallow layout lacks (src/layout/remote.ts), fetched on first need into the cache, for the sinks that
 * need them as files: a docker archive (`pipeline load`, `bazel run :NAME_load`). Each goes to
 * `<cache>/blobs/<hex of its digest>`, streamed from where the layout records it (RemoteLayers: checked against its
 * digest and size as it flows) into a temporary sibling (src/process/temp.ts, removed if this process dies) renamed
 * into place when whole, so an entry in the cache is never half-written. An entry already there is used without a
 * request; the next load of the same base downloads nothing. Entries are leased while used and pruned like the
 * cache's others (`pipeline cache du/prune`, kind "blobs").
 */
import { statSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { join } from "node:path";
import { blobsDir } from "../cache/layout";
import { useEntry } from "../cache/use";
import { PipelineError } from "../errors";
import { fileLayer } from "../layer/blob";
import { remoteSourcesOf } from "../layout/remote";
import { digestHex } from "../oci/digest";
import type { Image, Layer } from "../oci/model";
import { holdTemp, tempPath } from "../process/temp";
import type { ProgressSink } from "../registry/progress";
import { RemoteLayers, type RemoteFetchOptions } from "./remote-blobs";
import { openWriteStream } from "../open-write-stream";

export interface CachedLayersOptions extends RemoteFetchOptions {
  /** The cache root (src/cache/layout.ts cacheRoot). */
  cacheDir: string;
}

/**
 * `images` with every remote layer replaced by its file in the cache (fetched now when missing); images without
 * remote layers are returned as they are. One layer shared by several images is fetched once.
 */
export async function withCachedLayers(images: readonly Image[], opts: CachedLayersOptions): Promise<Image[]> {
  if (!images.some((i) => RemoteLayers.any(i))) return [...images];
  const dir = blobsDir(opts.cacheDir);
  await mkdir(dir, { recursive: true });
  const remote = new RemoteLayers(opts);
  const done = new Map<string, Promise<Layer>>();
  const local = (layer: Layer): Promise<Layer> => {
    let p = done.get(layer.digest);
    if (!p) {
      p = cacheLayer(remote.layer(layer), dir, opts.progress);
      done.set(layer.digest, p);
    }
    return p;
  };
  const out: Image[] = [];
  for (const image of images) {
    if (!RemoteLayers.any(image)) {
      out.push(image);
      continue;
    }
    const layers: Layer[] = [];
    for (const l of image.layers) layers.push(remoteSourcesOf(l) && !l.path ? await local(l) : l);
    out.push({ ...image, layers });
  }
  return out;
}

async function cacheLayer(layer: Layer, dir: string, progress: ProgressSink | undefined): Promise<Layer> {
  const hex = digestHex(layer.digest);
  const path = join(dir, hex);
  await useEntry(dir, hex);
  const file = () =>
    fileLayer(path, {
      digest: layer.digest,
      size: layer.size,
      mediaType: layer.mediaType,
      diffId: layer.diffId,
      annotations: layer.annotations,
    });
  const had = statSync(path, { throwIfNoEntry: false });
  if (had) {
    if (had.size === layer.size) {
      progress?.skip(layer.digest, "in the cache", "base layer");
      return file();
    }
    // Not what an entry written here can be (it is renamed in whole and checked): taken as damage, fetched again.
    await rm(path, { force: true });
  }
  const tmp = tempPath(path);
  const release = holdTemp(tmp);
  try {
    // RemoteLayers shows the download (opts.progress).
    await pipeline(layer.open(), await openWriteStream(tmp, { mode: 0o444 }));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_CACHE", `base layer ${layer.digest}: writing ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    release();
  }
  return file();
}
