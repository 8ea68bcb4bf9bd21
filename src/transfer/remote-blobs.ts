/**
 * Bytes for the layers a shallow layout lacks (src/layout/remote.ts): each such layer of an image is replaced by one
 * whose open() streams it from the first of its recorded sources that holds it (a HEAD each, in order), checked
 * against its digest and size as it flows (RegistryClient.openBlob), never written to disk here. A push uploads from
 * that stream (registry to registry) when the target can neither skip nor mount the blob; a load or a run writes it
 * where it writes the layout's other blobs. When no source has it, the stream fails before any byte with
 * E_BASE_LAYER_MISSING naming the layer, the base and every place asked (a push then puts no manifest and no tag).
 * A layer recorded with BAZEL_CACHE_SOURCE (the image rule's push layout: the layers built here) streams from the
 * Bazel remote cache the options name (src/transfer/bazel-cache.ts); E_BAZEL_CACHE when it cannot.
 */
import { PassThrough, type Readable } from "node:stream";
import { PipelineError } from "../errors";
import { feedableBlob, selfVerifyingBlob } from "../layer/blob";
import { type Image, type ImageIndex, isImageIndex, type Layer } from "../oci/model";
import { BAZEL_CACHE_SOURCE, markRemote, remoteSourcesOf } from "../layout/remote";
import type { BazelCache } from "./bazel-cache";
import { parseReference, type Reference } from "../oci/reference";
import type { Keychain } from "../registry-auth/keychain";
import { RegistryClient } from "../registry/client";
import type { Logger } from "../registry/http";
import type { TransferRate } from "../registry/transfer-rate";
import { downloadProgress, type ProgressSink, silentProgress } from "../registry/progress";
import { openRemote } from "../registry/pull";

export interface RemoteFetchOptions {
  keychain?: Keychain;
  insecure?: boolean;
  log?: Logger;
  scheme?: "http" | "https";
  /** Where a download is shown (a run, a load); a push leaves it out: it shows the same blob's upload. */
  progress?: ProgressSink;
  /** The Bazel remote cache that serves the layers recorded with BAZEL_CACHE_SOURCE (a push's `remoteCache`). */
  bazelCache?: BazelCache;
  /** How slow the registries' answers may be (the push's or the run's limits). */
  transfer?: TransferRate;
}

/** Where a remote layer was found: a registry's repository, or the Bazel remote cache. */
type Found = { client: RegistryClient; repository: string } | { cache: BazelCache };

/** The registries and repositories the remote layers of `images` are recorded in (mount candidates for a push). */
export function remoteRepositories(images: readonly Image[]): { registry: string; repository: string }[] {
  const out = new Map<string, { registry: string; repository: string }>();
  for (const image of images)
    for (const layer of image.layers)
      for (const source of remoteSourcesOf(layer) ?? []) {
        const ref = tryParse(source);
        if (ref) out.set(`${ref.registry}/${ref.repository}`, { registry: ref.registry, repository: ref.repository });
      }
  return [...out.values()];
}

function tryParse(source: string): Reference | undefined {
  try {
    return parseReference(source, "remote blob source");
  } catch {
    return undefined;
  }
}

/**
 * Replaces the remote layers of images (or of an index's images) with ones that stream from their sources. Local
 * layers, and images without remote layers, are returned as they are; one fetcher serves every image it is given
 * (one client per registry).
 */
export class RemoteLayers {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly done = new WeakMap<Image, Image>();

  constructor(private readonly opts: RemoteFetchOptions = {}) {}

  /** Whether any layer of `content` is a shallow base's (the layout lacks it). */
  static any(content: Image | ImageIndex): boolean {
    const images = isImageIndex(content) ? content.images : [content];
    return images.some((i) => i.layers.some((l) => remoteSourcesOf(l)));
  }

  content<T extends Image | ImageIndex>(x: T): T {
    if (isImageIndex(x)) return { ...x, images: x.images.map((i) => this.image(i)) };
    return this.image(x as Image) as T;
  }

  image(image: Image): Image {
    const had = this.done.get(image);
    if (had) return had;
    const out = image.layers.some((l) => remoteSourcesOf(l))
      ? { ...image, layers: image.layers.map((l) => this.layer(l)) }
      : image;
    this.done.set(image, out);
    return out;
  }

  /** The layer itself when local; else one whose open() streams it from its sources (still marked remote). */
  layer(layer: Layer): Layer {
    const sources = remoteSourcesOf(layer);
    if (!sources) return layer;
    // Still marked remote: a layout written from it records it again rather than downloading it.
    return markRemote({ ...layer, open: () => this.open(layer, sources) }, sources);
  }

  /**
   * The layer with its bytes from its sources and no longer marked remote: a layout written from it holds it. Written
   * to a file (src/layout/write.ts writeBlob), it is fed through one reused buffer and checked as it comes, as a pull's
   * layers are (RegistryClient.fetchBlob); open() streams the same checked bytes. A local layer is returned as it is.
   */
  fetched(layer: Layer): Layer {
    const sources = remoteSourcesOf(layer);
    if (!sources) return layer;
    const blob = selfVerifyingBlob({ ...layer, path: undefined, open: () => this.open(layer, sources) });
    // A registry's layer is fed into its file through one buffer; the Bazel cache's streams (open()).
    if (sources.includes(BAZEL_CACHE_SOURCE)) return blob;
    return feedableBlob(blob, async (consumer) => {
      const found = await this.find(layer, sources);
      if ("cache" in found) throw new Error("RemoteLayers.fetched(): a registry source found the Bazel cache");
      const p = downloadProgress(this.opts.progress ?? silentProgress, layer, "base layer");
      await found.client.fetchBlob(found.repository, layer.digest, layer.size, p.onBytes).into(consumer);
      p.done();
    });
  }

  private client(registry: string): RegistryClient {
    let c = this.clients.get(registry);
    if (!c) {
      c = new RegistryClient(registry, { ...this.opts, access: "pull" });
      this.clients.set(registry, c);
    }
    return c;
  }

  /** The first source that has the layer (a HEAD each, in order); E_BASE_LAYER_MISSING naming every one asked. */
  private async find(layer: Layer, sources: readonly string[]): Promise<Found> {
    const asked: string[] = [];
    for (const source of sources) {
      if (source === BAZEL_CACHE_SOURCE) {
        const cache = this.opts.bazelCache;
        if (!cache) {
          asked.push("the Bazel remote cache (not given: --@rules_pipeline//bazel:remote_cache)");
          continue;
        }
        try {
          if (await cache.has(layer.digest)) return { cache };
          asked.push(`${cache.blobUrl(layer.digest)} (not found)`);
        } catch (e) {
          asked.push(`${cache.blobUrl(layer.digest)} (${e instanceof Error ? e.message : String(e)})`);
        }
        continue;
      }
      const ref = tryParse(source);
      if (!ref) {
        asked.push(`${source} (not a reference)`);
        continue;
      }
      const client = this.client(ref.registry);
      try {
        if (await client.blobExists(ref.repository, layer.digest)) return { client, repository: ref.repository };
        asked.push(`${ref.registry}/${ref.repository} (not found)`);
      } catch (e) {
        asked.push(`${ref.registry}/${ref.repository} (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    const bases = sources.filter((s) => s !== BAZEL_CACHE_SOURCE);
    if (bases.length === 0)
      throw new PipelineError(
        "E_BAZEL_CACHE",
        `layer ${layer.digest} (built by Bazel, pushed from its remote cache) could not be had: asked ${asked.join("; ")}`,
      );
    throw new PipelineError(
      "E_BASE_LAYER_MISSING",
      `layer ${layer.digest} of base ${bases.join(", ")} could not be had: asked ${asked.join("; ")}`,
    );
  }

  /**
   * A stream of the layer's bytes from the first source that has it; E_BASE_LAYER_MISSING when none does. The source's
   * stream (and the response it reads) is destroyed with this one: an upload that fails or is retried closes it.
   */
  private open(layer: Layer, sources: readonly string[]): Readable {
    const out = new PassThrough();
    this.find(layer, sources).then(
      (found) => {
        if (out.destroyed) return;
        const progress = this.opts.progress ?? silentProgress;
        const src =
          "cache" in found
            ? cacheStream(found.cache, layer, progress)
            : openRemote(found.client, found.repository, layer, "base layer", progress);
        src.on("error", (e) => out.destroy(e));
        out.once("close", () => src.destroy());
        src.pipe(out);
      },
      (e) => out.destroy(e),
    );
    return out;
  }
}

/** A layer streaming from the Bazel cache, with progress as openRemote shows a registry's. */
function cacheStream(cache: BazelCache, layer: Layer, progress: ProgressSink): Readable {
  const p = downloadProgress(progress, layer, "layer from the Bazel cache");
  return p.ended(cache.open(layer, p.onBytes));
}
