/**
 * Images for the local runner: a reference → a cached, unpacked, read-only root filesystem and its config.
 *
 * `HOST/REPO@sha256:...` is pulled with src/registry/pull.ts into images/<hex of that digest> (an OCI layout
 * written atomically); a layout already there means no registry request at all (the digest pins the bytes). A
 * tag (`HOST/REPO:TAG`) costs one HEAD request to pin it first. `oci:DIR` and `oci:DIR@sha256:...` read a local
 * OCI layout (what `bazel run :NAME_binary` has before anything is pushed); `@digest` picks that manifest.
 *
 * The layers are unpacked with src/layer/unpack.ts (which refuses `..`, absolute-escaping and climbing symlinks,
 * devices; applies OCI whiteouts) into a temporary sibling (src/process/temp.ts) and renamed to rootfs/<hex of the
 * manifest digest> when complete, so a rootfs in the cache is always whole. When two runs race, the second rename
 * loses and its copy is dropped. A layout whose layers fail to unpack is dropped from the cache too (a hostile
 * image stays nowhere).
 *
 * Before it looks at the cache, each call sweeps what killed processes left in it (src/cache/sweep.ts) and takes
 * a lease on the image and rootfs entries it uses (src/cache/use.ts), so `pipeline cache prune` keeps them for
 * as long as this process runs.
 */
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Keychain } from "../registry-auth/keychain";
import { holdTemp, tempPath } from "../process/temp";
import { sweepCache } from "../cache/sweep";
import { useEntry } from "../cache/use";
import { PipelineError } from "../errors";
import type { Image } from "../oci/model";
import type { LayerLimits } from "../layer/limits";
import { unpackLayers } from "../layer/unpack";
import { layoutImages, readIndexJson, readLayout, readLayoutContent } from "../layout/read";
import { type LayoutImage, isLayoutReference, parseLayoutReference } from "../deploy/layout-image";
import { type Digest, digestHex } from "../oci/digest";
import { formatReference, parseReference } from "../oci/reference";
import { ANNOTATION_REF_NAME, type ImageConfig, INDEX_MEDIA_TYPES } from "../oci/types";
import { resolveDigest } from "../registry/pull";
import { RemoteLayers } from "../transfer/remote-blobs";
import { lazyDefaultKeychain } from "../registry-auth/lazy";
import { pullToLayout } from "../transfer/pull";
import type { ProgressSink } from "../registry/progress";
import { imagesDir, rootfsDir } from "./paths";

export interface PrepareImageOptions {
  /** The cache root (see paths.ts). */
  cacheDir: string;
  keychain?: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Status lines ("pulling ...", "unpacking ..."). */
  log?: (line: string) => void;
  warn?: (line: string) => void;
  /** Limits on unpacking the layers (src/layer/limits.ts; default DEFAULT_LIMITS). */
  limits?: LayerLimits;
}

export interface PreparedImage {
  /** What was asked for, as given. */
  source: string;
  /** Manifest digest of the image that runs. */
  digest: Digest;
  config: ImageConfig;
  /** The cached root filesystem. Read-only by contract: containers get an overlay or a copy. */
  rootfs: string;
  /** The OCI layout holding the image (the cache entry, or the user's `oci:` directory). */
  layoutDir: string;
  /** Whether the registry was asked for anything. */
  pulled: boolean;
  /** Whether the rootfs had to be unpacked. */
  unpacked: boolean;
}

/** Splits `oci:DIR[@sha256:...]` (deploy/layout-image.ts's grammar); undefined when `image` is not an `oci:` reference. */
export function parseOciImage(image: string, cwd = process.cwd()): LayoutImage | undefined {
  return isLayoutReference(image) ? parseLayoutReference(image, "image", cwd) : undefined;
}

/** The image in a local layout: the only manifest, or the one with `digest`. */
export function readLocalLayout(dir: string, digest?: Digest): Image {
  if (!digest) return readLayout(dir);
  const index = readIndexJson(dir);
  const entries = index.manifests.filter((m) => m.digest === digest);
  if (entries.length === 0) {
    // A digest of a platform manifest inside a nested index: the only top-level entry may lead to it.
    const img = layoutImages(readLayoutContent(dir)).find((i) => i.digest === digest);
    if (img) return img;
    throw new PipelineError(
      "E_NOT_FOUND",
      `OCI layout ${dir}: no manifest ${digest} (index.json lists ${index.manifests.map((m) => m.digest).join(", ")})`,
    );
  }
  const refName = entries[0].annotations?.[ANNOTATION_REF_NAME];
  // A multi-platform index: this machine's platform from it.
  const img = readLayout(dir, refName ? { refName } : {});
  if (img.digest !== digest && !INDEX_MEDIA_TYPES.includes(entries[0].mediaType))
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: cannot select manifest ${digest} (give it a ref name)`);
  return img;
}

/** Pulls (or finds) the image and its unpacked rootfs in the cache. */
export async function prepareImage(image: string, opts: PrepareImageOptions): Promise<PreparedImage> {
  const log = opts.log ?? (() => undefined);
  const oci = parseOciImage(image);
  await sweepCache(opts.cacheDir);
  let img: Image;
  let layoutDir: string;
  let pulled = false;
  let fromCache = false;
  if (oci) {
    // A shallow base's layers (src/layout/remote.ts) stream from where the layout says, when the rootfs needs them.
    img = new RemoteLayers({
      keychain: opts.keychain ?? lazyDefaultKeychain({ warn: opts.warn }),
      insecure: opts.insecure,
      progress: opts.progress,
    }).image(readLocalLayout(oci.dir, oci.digest));
    layoutDir = oci.dir;
  } else {
    const ref = parseReference(image, "image");
    let digest = ref.digest;
    if (!digest) {
      digest = await resolveDigest(ref, { keychain: opts.keychain, insecure: opts.insecure });
      pulled = true;
      opts.warn?.(
        `image ${formatReference(ref)} is a tag; running ${formatReference({ ...ref, tag: undefined, digest })}`,
      );
    }
    layoutDir = join(imagesDir(opts.cacheDir), digestHex(digest));
    await useEntry(imagesDir(opts.cacheDir), digestHex(digest));
    if (!existsSync(join(layoutDir, "index.json"))) {
      log(`image ${formatReference({ ...ref, tag: undefined, digest })}: pulling`);
      await mkdir(imagesDir(opts.cacheDir), { recursive: true });
      await pullToLayout({ ...ref, tag: undefined, digest }, layoutDir, {
        keychain: opts.keychain,
        insecure: opts.insecure,
        progress: opts.progress,
        limits: opts.limits,
      });
      pulled = true;
    }
    fromCache = true;
    img = readLayout(layoutDir);
  }
  const rootfs = join(rootfsDir(opts.cacheDir), digestHex(img.digest));
  let unpacked = false;
  await useEntry(rootfsDir(opts.cacheDir), digestHex(img.digest));
  if (!existsSync(rootfs)) {
    log(`image ${img.digest}: unpacking ${img.layers.length} layer(s)`);
    try {
      await unpackInto(img, rootfs, opts.warn, opts.limits);
    } catch (e) {
      if (fromCache) await rm(layoutDir, { recursive: true, force: true });
      throw e;
    }
    unpacked = true;
  }
  return { source: image, digest: img.digest, config: img.config, rootfs, layoutDir, pulled, unpacked };
}

async function unpackInto(
  img: Image,
  rootfs: string,
  warn?: (line: string) => void,
  limits?: LayerLimits,
): Promise<void> {
  const parent = dirname(rootfs);
  await mkdir(parent, { recursive: true });
  const tmp = tempPath(rootfs);
  const release = holdTemp(tmp);
  try {
    await unpackLayers(img.layers, tmp, { devices: "skip", warn, limits });
    try {
      await rename(tmp, rootfs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      // Another run published the same rootfs first; ours is identical.
    }
  } catch (e) {
    if (e instanceof PipelineError && e.code === "E_LAYER_UNSAFE") {
      throw new PipelineError("E_LAYER_UNSAFE", `image ${img.digest} cannot be run: ${e.message}`, { cause: e });
    }
    throw e;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    release();
  }
}
