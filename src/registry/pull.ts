/**
 * Pulls images from a registry: resolves a tag or digest (choosing a platform in an index), fetches the
 * config, and returns an Image whose layers stream from the registry on open() (digest-checked as they
 * flow) and feed a consumer (BlobFeed). Where the blobs go is the caller's: src/transfer/pull.ts writes a layout.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import type { LayerLimits } from "../layer/limits";
import { formatReference, type Reference } from "../oci/reference";
import type { Digest } from "../oci/digest";
import { parseIndexDescriptors, parseManifestDescriptors } from "../oci/descriptor";
import { diffIdsOf, parseImageConfig } from "../oci/image-config";
import {
  type Descriptor,
  type ImageConfig,
  INDEX_MEDIA_TYPES,
  type Manifest,
  MANIFEST_MEDIA_TYPES,
  type Platform,
} from "../oci/types";
import { hostPlatform, pickPlatform } from "../oci/platform";
import { bufferBlob, feedableBlob, selfVerifyingBlob } from "../layer/blob";
import type { Image, Layer } from "../oci/model";
import type { Keychain } from "../registry-auth/keychain";
import type { BlobFetch } from "./blob-fetch";
import { type FetchedManifest, RegistryClient } from "./client";
import type { Logger, RetryOptions } from "./http";
import { downloadProgress, type ProgressSink, silentProgress } from "./progress";
import { transferRateOf } from "./transfer-rate";

export interface PullOptions {
  keychain?: Keychain;
  insecure?: boolean;
  /** Platform to pick from an index (default: this machine's, src/oci/platform.ts). */
  platform?: Platform;
  retry?: RetryOptions;
  progress?: ProgressSink;
  log?: Logger;
  scheme?: "http" | "https";
  /**
   * Pulls to a layout (src/transfer/pull.ts): the free space to leave (minFreeSpace, src/layer/limits.ts; default none:
   * the image must fit).
   * Every pull: the slowest a blob may arrive (minTransferRate, transferRateWindow; default theirs).
   */
  limits?: LayerLimits;
}

export interface InspectResult {
  /** Digest of the image manifest (the platform's, when the reference names an index). */
  digest: Digest;
  mediaType: string;
  manifest: Manifest;
  config: ImageConfig;
  /** The index the reference named, when it named one. */
  index?: { digest: Digest; mediaType: string };
}

interface Resolved {
  client: RegistryClient;
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
  manifest: Manifest;
  index?: { digest: Digest; mediaType: string };
}

/** A client for pulls from `ref`'s registry (with the transfer-rate limit of opts.limits); one serves many pulls. */
export function pullClient(ref: Reference, opts: PullOptions): RegistryClient {
  const transfer = opts.limits && transferRateOf(opts.limits);
  return new RegistryClient(ref.registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    retry: opts.retry,
    log: opts.log,
    scheme: opts.scheme,
    transfer,
  });
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new PipelineError("E_REGISTRY", `${what} is not valid JSON`);
  }
}

/** `first`: what `ref` names, when the caller has fetched it already (it is not asked for again). */
async function resolveManifest(
  ref: Reference,
  opts: PullOptions,
  client = pullClient(ref, opts),
  first?: FetchedManifest,
): Promise<Resolved> {
  const name = formatReference(ref);
  let fetched = first ?? (await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? "latest"));
  let index: Resolved["index"];
  if (INDEX_MEDIA_TYPES.includes(fetched.mediaType)) {
    const want = opts.platform ?? hostPlatform();
    const entries =
      parseIndexDescriptors(parseJson(fetched.bytes, `index of ${name}`), `index ${fetched.digest} of ${name}`)
        ?.manifests ?? [];
    const match = pickPlatform(entries, want, { name, indexDigest: fetched.digest }, (m) =>
      MANIFEST_MEDIA_TYPES.includes(m.mediaType),
    );
    index = { digest: fetched.digest, mediaType: fetched.mediaType };
    fetched = await client.getManifest(ref.repository, match.digest);
  }
  if (!MANIFEST_MEDIA_TYPES.includes(fetched.mediaType)) {
    throw new PipelineError(
      "E_REGISTRY",
      `${name}: unsupported manifest media type ${JSON.stringify(fetched.mediaType)}`,
    );
  }
  const manifest = parseManifestDescriptors(
    parseJson(fetched.bytes, `manifest of ${name}`),
    `manifest ${fetched.digest} of ${name}`,
  );
  if (!manifest) {
    throw new PipelineError(
      "E_REGISTRY",
      `${name}: manifest ${fetched.digest} is not an image manifest (no config or layers)`,
    );
  }
  return { client, bytes: fetched.bytes, digest: fetched.digest, mediaType: fetched.mediaType, manifest, index };
}

async function fetchConfig(r: Resolved, ref: Reference): Promise<{ bytes: Buffer; config: ImageConfig }> {
  const bytes = await r.client.getBlob(ref.repository, r.manifest.config);
  const name = formatReference(ref);
  return {
    bytes,
    config: parseImageConfig(
      parseJson(bytes, `config of ${name}`),
      `config ${r.manifest.config.digest} of ${name}`,
      "E_REGISTRY",
    ),
  };
}

/** Starts streaming a layer from the registry, reporting progress; the stream checks its own digest and size. */
export function openRemote(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  label: string,
  progress: ProgressSink,
): Readable {
  const p = downloadProgress(progress, desc, label);
  return p.ended(client.openBlob(repository, desc.digest, desc.size, p.onBytes));
}

/** Starts downloading a layer for a file (BlobFetch.into), reporting progress as openRemote does. */
function fetchRemote(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  label: string,
  progress: ProgressSink,
): BlobFetch {
  return client.fetchBlob(repository, desc.digest, desc.size, downloadProgress(progress, desc, label).onBytes);
}

/**
 * Layer downloads started before their writer asks (ResolvedImage.image(true): the first layers' requests go out beside the
 * config's, so a pull pays the registry's round trip once, not twice). Each is handed out once (take); close() stops
 * what was never taken. A download nobody takes yet is paused once its first read is set aside (blob-fetch.ts: the
 * transfer-rate check does not count that time); one that fails before it is taken keeps its error for its writer.
 */
class EarlyFetches {
  private readonly fetches = new Map<Digest, BlobFetch>();

  start(digest: Digest, fetch: () => BlobFetch): void {
    if (!this.fetches.has(digest)) this.fetches.set(digest, fetch());
  }

  take(digest: Digest): BlobFetch | undefined {
    const f = this.fetches.get(digest);
    this.fetches.delete(digest);
    return f;
  }

  close(): void {
    for (const f of this.fetches.values()) f.abort();
    this.fetches.clear();
  }
}

/** How many layers ResolvedImage.image(true) requests before the config arrives: as many as a layout writes at once. */
const EARLY_LAYERS = 4;

/**
 * An Image backed by the registry: manifest and config fetched now, layers streamed on open(). `client`: an open pull
 * session for `ref`'s registry (pullClient), to share among several pulls; `first`: the manifest `ref` names, when
 * the caller has it already.
 */
export async function pullImage(
  ref: Reference,
  opts: PullOptions = {},
  client?: RegistryClient,
  first?: FetchedManifest,
): Promise<Image> {
  return imageOf(await resolveManifest(ref, opts, client, first), ref, opts);
}

/**
 * The Image of a resolved manifest: fetches the config; layers stream on open(), each marked self-verifying (the
 * stream fails before its end when digest or size are wrong, so sinks need not hash it again) and feedable (a layout
 * writes it from blob-fetch.ts's reused buffer). With `early`, the first EARLY_LAYERS layers' requests start before the
 * config's, and writing those layers takes those downloads.
 */
async function imageOf(r: Resolved, ref: Reference, opts: PullOptions, early?: EarlyFetches): Promise<Image> {
  const progress = opts.progress ?? silentProgress;
  const n = r.manifest.layers.length;
  const label = (i: number) => `layer ${i + 1}/${n}`;
  const download = (l: Descriptor, i: number) => () => fetchRemote(r.client, ref.repository, l, label(i), progress);
  if (early)
    for (const [i, l] of r.manifest.layers.slice(0, EARLY_LAYERS).entries()) early.start(l.digest, download(l, i));
  const { bytes: configBytes, config } = await fetchConfig(r, ref);
  const diffIds = diffIdsOf(config);
  if (diffIds.length !== n) {
    throw new PipelineError(
      "E_REGISTRY",
      `${formatReference(ref)}: config lists ${diffIds.length} diff_ids but the manifest has ${n} layers`,
    );
  }
  const layers = r.manifest.layers.map((l, i) => {
    const layer = selfVerifyingBlob<Layer>({
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId: diffIds[i],
      annotations: l.annotations,
      open: () => openRemote(r.client, ref.repository, l, label(i), progress),
    });
    return feedableBlob(layer, async (consumer) => {
      await (early?.take(l.digest) ?? download(l, i)()).into(consumer);
      progress.blobDone(l.digest, "downloaded");
    });
  });
  return {
    manifestBytes: r.bytes,
    manifest: r.manifest,
    digest: r.digest,
    mediaType: r.mediaType,
    configBytes,
    config,
    configBlob: bufferBlob(configBytes, r.manifest.config.mediaType),
    layers,
  };
}

/** What a reference names, resolved to one image manifest: its config and layers not fetched yet. */
export interface ResolvedImage {
  readonly digest: Digest;
  readonly manifest: Manifest;
  /** The manifest's size in bytes. */
  readonly manifestSize: number;
  /**
   * The Image (pullImage's): the config fetched now, layers streamed on open() or fed. `startLayers`: the first
   * layers' downloads start before the config's, for a consumer that takes every layer at once (a layout), so a pull
   * pays the registry's round trip once, not twice; close() then stops what was never taken.
   */
  image(startLayers?: boolean): Promise<Image>;
  close(): void;
}

/** Resolves `ref` to an image manifest (choosing the platform in an index); nothing else is fetched yet. */
export async function resolveImage(ref: Reference, opts: PullOptions = {}): Promise<ResolvedImage> {
  const r = await resolveManifest(ref, opts);
  const early = new EarlyFetches();
  return {
    digest: r.digest,
    manifest: r.manifest,
    manifestSize: r.bytes.length,
    image: (startLayers = false) => imageOf(r, ref, opts, startLayers ? early : undefined),
    close: () => early.close(),
  };
}

/** The digest a reference points at now (an index's own digest for a multi-platform tag). */
export async function resolveDigest(ref: Reference, opts: PullOptions = {}): Promise<Digest> {
  const client = pullClient(ref, opts);
  const reference = ref.digest ?? ref.tag ?? "latest";
  const head = await client.headManifest(ref.repository, reference);
  if (!head)
    throw new PipelineError(
      "E_NOT_FOUND",
      `${formatReference(ref)}: manifest not found in ${ref.registry}/${ref.repository}`,
    );
  if (ref.digest) {
    if (head.digest && head.digest !== ref.digest) {
      throw new PipelineError("E_DIGEST_MISMATCH", `${formatReference(ref)}: registry says ${head.digest}`);
    }
    return ref.digest;
  }
  if (head.digest) return head.digest;
  return (await client.getManifest(ref.repository, reference)).digest;
}

/** Manifest and config of the image a reference names (choosing the platform in an index). */
export async function inspect(ref: Reference, opts: PullOptions = {}): Promise<InspectResult> {
  const r = await resolveManifest(ref, opts);
  const { config } = await fetchConfig(r, ref);
  return { digest: r.digest, mediaType: r.mediaType, manifest: r.manifest, config, index: r.index };
}
