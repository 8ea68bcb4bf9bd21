/**
 * Pushes a multi-platform image: the blobs of every platform the repository lacks, in one pool (each distinct blob
 * once, the largest first, so the platforms' uploads overlap as crane's do, instead of each platform waiting for the
 * one before), then those platforms' manifests by digest, then the index by digest and under each tag, so that a tag
 * never names an index whose manifests the registry lacks. When a tag (or the digest) already names the index,
 * nothing else is sent. The result is the index's digest.
 */
import { PipelineError } from "../errors";
import type { Digest } from "../oci/digest";
import { formatPlatform } from "../oci/platform";
import { forEachLimited } from "../concurrency";
import type { Image, ImageIndex } from "../oci/model";
import { platformOfImage } from "../image/image-index";
import {
  beginPush,
  blobsOf,
  checkedPush,
  hasManifest,
  pushBlobs,
  type PushOptions,
  type PushResult,
  type PushTarget,
  putManifest,
  skipAll,
  tagRest,
  tagsNaming,
} from "./push";

export interface PushIndexResult extends PushResult {
  /** Each platform's image as pushed (by digest, untagged), in the index's order. */
  manifests: { platform: string; digest: Digest; reference: string }[];
}

export async function pushIndex(idx: ImageIndex, target: PushTarget, opts: PushOptions = {}): Promise<PushIndexResult> {
  const begun = beginPush(target, idx.bytes, idx.digest, "index", opts);
  const { client, registry, repository, tags, digest, where } = begun;
  const platforms = idx.images.map((image) => {
    checkedPush(where, image.manifestBytes, image.digest, "image");
    return formatPlatform(platformOfImage(image));
  });
  const result: PushIndexResult = {
    ...begun.result,
    manifests: idx.images.map((image, i) => ({
      platform: platforms[i],
      digest: image.digest,
      reference: `${registry}/${repository}@${image.digest}`,
    })),
  };
  const entries = idx.images.map((image, i) => ({ image, prefix: `${platforms[i]} ` }));
  const index = { manifestBytes: idx.bytes, mediaType: idx.mediaType };

  const current = await tagsNaming(client, repository, tags, digest);
  if (current.size > 0 || (await hasManifest(client, repository, digest))) {
    skipAll(blobsOf(entries), where, opts, result);
  } else {
    // A platform whose manifest the repository has already brings its blobs with it (registries check on PUT).
    const present = new Set<Image>();
    await forEachLimited(idx.images, 4, async (image) => {
      if (await hasManifest(client, repository, image.digest)) present.add(image);
    });
    const missing = entries.filter((e) => !present.has(e.image));
    const blobs = blobsOf(missing);
    const pooled = new Set(blobs.map((b) => b.blob.digest));
    skipAll(
      blobsOf(entries.filter((e) => present.has(e.image))).filter((b) => !pooled.has(b.blob.digest)),
      where,
      opts,
      result,
    );
    await pushBlobs(client, blobs, where, opts, result);
    await forEachLimited(missing, 4, async ({ image }) => {
      await putManifest(client, repository, image.digest, image, opts.log);
    });
    const confirmed = await putManifest(client, repository, digest, index, opts.log);
    if (confirmed !== digest)
      throw new PipelineError(
        "E_DIGEST_MISMATCH",
        `push ${registry}/${repository}@${digest}: registry stored ${confirmed}`,
      );
  }
  await tagRest(client, repository, tags, current, index, digest, opts.log);
  return result;
}
