/**
 * Bytes for the layers a shallow layout lacks (src/layout/remote.ts): each such layer of an image is replaced by one
 * whose open() streams it from the first of its recorded sources that holds it (a HEAD each, in order), checked
 * against its digest and size as it flows (RegistryClient.openBlob), never written to disk here. A push uploads from
 * that stream (registry to registry) when the target can neither skip nor mount the blob; a load or a run writes it
 * where it writes the layout's other blobs. When no source has it, the stream fails before any byte with
 * E_BASE_LAYER_MISSING naming the layer, the base and every place asked (a push then puts no manifest and no tag).
 * A layer recorded with BAZEL_CACHE_SOURCE (the image rule's push layout: the layers built here) streams from the
 * build cache the options name (src/transfer/bazel-cache.ts); E_BAZEL_CACHE when it cannot. Which source a recorded
 * string names is layer-sources.ts's table: this file only asks them, in order.
 */
import { PassThrough, type Readable } from "node:stream";
import { PipelineError } from "../errors";
import { feedableBlob, selfVerifyingBlob } from "../layer/blob";
import { type Image, type ImageIndex, isImageIndex, type Layer } from "../oci/model";
import { markRemote, remoteSourcesOf } from "../layout/remote";
import type { Keychain } from "../registry-auth/keychain";
import { RegistryClient } from "../registry/client";
import type { Logger } from "../registry/http";
import type { TransferRate } from "../registry/transfer-rate";
import { type ProgressSink, silentProgress } from "../registry/progress";
import type { LayerSource } from "./layer-source";
import { recordedKind, recordedReference, type SourceContext } from "./layer-sources";

export interface RemoteFetchOptions {
  keychain?: Keychain;
  insecure?: boolean;
  log?: Logger;
  scheme?: "http" | "https";
  /** Where a download is shown (a run, a load); a push leaves it out: it shows the same blob's upload. */
  progress?: ProgressSink;
  /** The build cache that serves the layers recorded with BAZEL_CACHE_SOURCE (a push's `remoteCache`, remoteCacheAt). */
  buildCache?: LayerSource;
  /** How slow the registries' answers may be (the push's or the run's limits). */
  transfer?: TransferRate;
}

/** The registries and repositories the remote layers of `images` are recorded in (mount candidates for a push). */
export function remoteRepositories(images: readonly Image[]): { registry: string; repository: string }[] {
  const out = new Map<string, { registry: string; repository: string }>();
  for (const image of images)
    for (const layer of image.layers)
      for (const source of remoteSourcesOf(layer) ?? []) {
        const ref = recordedReference(source);
        if (ref) out.set(`${ref.registry}/${ref.repository}`, { registry: ref.registry, repository: ref.repository });
      }
  return [...out.values()];
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
    return feedableBlob(blob, async (consumer) => {
      const found = await this.find(layer, sources);
      await found.feed(layer, consumer, this.opts.progress ?? silentProgress);
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
  private async find(layer: Layer, sources: readonly string[]): Promise<LayerSource> {
    const ctx: SourceContext = { buildCache: this.opts.buildCache, client: (registry) => this.client(registry) };
    const asked: string[] = [];
    for (const recorded of sources) {
      const source = recordedKind(recorded).source(recorded, ctx);
      if ("unavailable" in source) {
        asked.push(source.unavailable);
        continue;
      }
      try {
        if (await source.has(layer)) return source;
        asked.push(`${source.where(layer)} (not found)`);
      } catch (e) {
        asked.push(`${source.where(layer)} (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    const bases = sources.filter((s) => recordedKind(s).base);
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
        const src = found.stream(layer, this.opts.progress ?? silentProgress);
        src.on("error", (e) => out.destroy(e));
        out.once("close", () => src.destroy());
        src.pipe(out);
      },
      (e) => out.destroy(e),
    );
    return out;
  }
}
