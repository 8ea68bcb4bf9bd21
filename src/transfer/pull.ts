/**
 * Pulls into an OCI layout: a registry's image (`pullToLayout`) or multi-platform image (`pullIndexToLayout`), from
 * src/registry/ (the source: blobs that feed a consumer) to src/layout/ (the sink), once the manifests' sizes say
 * it fits on the disk (`ensureLayoutFits`: E_NO_SPACE before any layer is downloaded).
 *
 * A multi-platform image is pulled whole (or the platforms asked for) into an OCI layout whose index.json names the
 * index: each platform's image is fetched by digest, then the index, and the layout is written atomically by the
 * one layout writer, once the manifests' sizes say it fits (E_NO_SPACE before any layer is downloaded otherwise, as
 * for a single image). One registry session serves the index and every platform. A reference naming a single image
 * gives a layout of that image.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PipelineError } from "../errors";
import { DEFAULT_LIMITS, ensureFreeSpace, formatSize } from "../layer/limits";
import { formatReference, type Reference } from "../oci/reference";
import { formatPlatform, pickPlatform } from "../oci/platform";
import { type Descriptor, type Index, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, type Platform } from "../oci/types";
import { platformOfImage } from "../image/image-index";
import { type Blob, type Image, type ImageIndex, isImageIndex } from "../oci/model";
import { type Digest, sha256 } from "../oci/digest";
import { parseIndexDescriptors } from "../oci/descriptor";
import { layoutBlobs, writeLayout } from "../layout/write";
import { forEachLimited } from "../concurrency";
import { markRemote, remoteSourcesOf } from "../layout/remote";
import { pullClient, pullImage, type PullOptions, resolveImage } from "../registry/pull";

/** A pull into a layout: the registry's options, and `shallow`. */
export interface LayoutPullOptions extends PullOptions {
  /**
   * A shallow pull (src/layout/remote.ts): the layers are marked as had from this image (`registry/repo@digest`), so
   * the layout holds index, manifest and config only, and records where the layers are.
   */
  shallow?: boolean;
}

/** `image` with its layers marked as had from the registry it was pulled from (a shallow pull's). */
function shallowImage(image: Image, ref: Reference): Image {
  const source = `${ref.registry}/${ref.repository}@${ref.digest ?? image.digest}`;
  return { ...image, layers: image.layers.map((l) => markRemote(l, [source])) };
}

export interface PullIndexResult {
  /** The index's digest (the image's, when the reference names a single image). */
  digest: Digest;
  refName?: string;
  /** The platforms written. */
  platforms: string[];
  /** Each platform's manifest digest. */
  manifests: { platform: string; digest: Digest }[];
}

/** `platforms`: "all", or the ones to keep (E_PLATFORM when the index lacks one). */
export async function pullIndexToLayout(
  ref: Reference,
  dir: string,
  platforms: "all" | readonly Platform[],
  opts: LayoutPullOptions = {},
): Promise<PullIndexResult> {
  const name = formatReference(ref);
  const client = pullClient(ref, opts); // one session for the index and every platform
  const fetched = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? "latest");
  let content: Image | ImageIndex;
  if (!INDEX_MEDIA_TYPES.includes(fetched.mediaType)) {
    const one = { ...ref, tag: undefined, digest: fetched.digest };
    const pulledOne = await pullImage(one, opts, client, fetched);
    const image = opts.shallow ? shallowImage(pulledOne, one) : pulledOne;
    if (platforms !== "all") {
      const own = platformOfImage(image);
      const entry = {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.manifestBytes.length,
        ...(own ? { platform: own } : {}),
      };
      for (const p of platforms) pickPlatform([entry], p, { name });
    }
    content = image;
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fetched.bytes.toString("utf8"));
    } catch {
      throw new PipelineError("E_REGISTRY", `index of ${name} is not valid JSON`);
    }
    const index: Index = parseIndexDescriptors(parsed, `index ${fetched.digest} of ${name}`) ?? {
      schemaVersion: 2,
      manifests: [],
    };
    const images = index.manifests.filter(
      (d) => MANIFEST_MEDIA_TYPES.includes(d.mediaType) && d.platform && d.platform.os !== "unknown",
    );
    let kept: Descriptor[] = images;
    if (platforms !== "all") {
      const chosen = new Set(platforms.map((p) => pickPlatform(images, p, { name, indexDigest: fetched.digest })));
      kept = images.filter((d) => chosen.has(d));
    }
    if (kept.length === 0)
      throw new PipelineError("E_PLATFORM", `${name}: index ${fetched.digest} lists no image manifest with a platform`);
    // Each platform's manifest and config, several at once (their layers stream later, into the layout).
    const pulled: Image[] = new Array(kept.length);
    await forEachLimited(kept, 4, async (d, i) => {
      const one = { ...ref, tag: undefined, digest: d.digest };
      const image = await pullImage(one, opts, client);
      pulled[i] = opts.shallow ? shallowImage(image, one) : image;
    });
    if (kept.length === index.manifests.length) {
      content = { bytes: fetched.bytes, index, digest: fetched.digest, mediaType: fetched.mediaType, images: pulled };
    } else {
      const sub: Index = { ...index, manifests: kept };
      const bytes = Buffer.from(JSON.stringify(sub));
      content = { bytes, index: sub, digest: sha256(bytes), mediaType: fetched.mediaType, images: pulled };
    }
  }
  ensureLayoutFits(dir, content, ref, opts);
  await writeLayout(dir, content, { atomic: true, refName: ref.tag });
  const imgs = "images" in content ? content.images : [content];
  const manifests = imgs.map((i) => ({
    platform: formatPlatform(platformOfImage(i)),
    digest: i.digest,
  }));
  return { digest: content.digest, refName: ref.tag, platforms: manifests.map((m) => m.platform), manifests };
}

/**
 * Pulls into an OCI layout at `dir` (replaced atomically); the manifest is named by the tag, if any. Once the
 * manifest says the image fits on the disk, the config and the first layers are requested at once.
 */
export async function pullToLayout(
  ref: Reference,
  dir: string,
  opts: LayoutPullOptions = {},
): Promise<{ digest: Digest; refName?: string }> {
  const resolved = await resolveImage(ref, opts);
  const { config, layers } = resolved.manifest;
  const written = opts.shallow ? [] : layers;
  ensureFits(
    dir,
    [config, ...written, { digest: resolved.digest, size: resolved.manifestSize }],
    new Set(written.map((l) => l.digest)).size,
    "",
    ref,
    opts,
  );
  try {
    const pulled = await resolved.image(!opts.shallow);
    const image = opts.shallow ? shallowImage(pulled, ref) : pulled;
    await writeLayout(dir, image, { atomic: true, refName: ref.tag });
    return { digest: image.digest, refName: ref.tag };
  } finally {
    resolved.close();
  }
}

/**
 * The manifests say how much is coming: refuses (E_NO_SPACE) before a blob is downloaded when writing every distinct
 * blob of `content` (an image, or an index's images and the index) into `dir` would eat into the free-space reserve.
 */
export function ensureLayoutFits(dir: string, content: Image | ImageIndex, ref: Reference, opts: PullOptions): void {
  const images = isImageIndex(content) ? content.images : [content];
  const written = (b: Blob) => !remoteSourcesOf(b); // a shallow pull's layers are not written
  const layers = new Set(images.flatMap((i) => i.layers.filter(written).map((l) => l.digest))).size;
  const platforms = isImageIndex(content) ? ` of ${images.length} platform(s)` : "";
  ensureFits(dir, layoutBlobs(content).filter(written), layers, platforms, ref, opts);
}

/** ensureLayoutFits for the blobs `blobs` (each distinct digest counted once), `layers` of them layers. */
function ensureFits(
  dir: string,
  blobs: readonly { digest: Digest; size: number }[],
  layers: number,
  platforms: string,
  ref: Reference,
  opts: PullOptions,
): void {
  const sizes = new Map(blobs.map((b) => [b.digest, b.size]));
  const bytes = [...sizes.values()].reduce((n, size) => n + size, 0);
  const what = `${formatReference(ref)}: downloading its ${layers} layer(s)${platforms} (${formatSize(bytes)})`;
  ensureFreeSpace(
    existingAncestor(dirname(resolve(dir))),
    bytes,
    opts.limits ?? { ...DEFAULT_LIMITS, minFreeSpace: 0 },
    what,
  );
}

/** `dir` or its nearest ancestor that exists (the file system the layout will be written to). */
function existingAncestor(dir: string): string {
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
