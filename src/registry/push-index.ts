/**
 * Pushes a multi-platform image: every platform's image (its blobs, then its manifest, by digest), then the index
 * by digest and under each tag, so that a tag never names an index whose manifests the registry lacks. When a tag
 * (or the digest) already names the index, nothing else is sent. The result is the index's digest.
 */
import { PipelineError } from "../errors";
import { formatPlatform } from "../oci/platform";
import { forEachLimited } from "../concurrency";
import { type ImageIndex, platformOfImage } from "../image/index";
import { checkedPush, hasManifest, pushClient, pushImageWith, type PushOptions, type PushResult, type PushTarget, putManifest, putTag } from "./push";

export interface PushIndexResult extends PushResult {
  /** Each platform's image as pushed (by digest, untagged), in the index's order. */
  manifests: (PushResult & { platform: string })[];
}

export async function pushIndex(idx: ImageIndex, target: PushTarget, opts: PushOptions = {}): Promise<PushIndexResult> {
  const { registry, repository, tags, digest } = checkedPush(target, idx.bytes, idx.digest, "index");
  const client = pushClient(registry, opts);
  const result: PushIndexResult = {
    digest,
    reference: `${registry}/${repository}@${digest}`,
    tags,
    uploaded: [],
    skipped: [],
    mounted: [],
    manifests: [],
  };
  const index = { manifestBytes: idx.bytes, mediaType: idx.mediaType };

  const current = new Set<string>();
  await forEachLimited(tags, 4, async (tag) => {
    if (await hasManifest(client, repository, tag, digest)) current.add(tag);
  });
  const present = current.size > 0 || (await hasManifest(client, repository, digest));
  // Platforms one after the other: their shared layers are then uploaded once and found present after that.
  for (const image of idx.images) {
    const r = present
      ? { digest: image.digest, reference: `${registry}/${repository}@${image.digest}`, tags: [], uploaded: [], skipped: [], mounted: [] }
      : await pushImageWith(client, image, { registry, repository }, opts);
    result.manifests.push({ ...r, platform: formatPlatform(platformOfImage(image)) });
    result.uploaded.push(...r.uploaded);
    result.skipped.push(...r.skipped);
    result.mounted.push(...r.mounted);
  }
  if (!present) {
    const confirmed = await putManifest(client, repository, digest, index, opts.log);
    if (confirmed !== digest) throw new PipelineError("E_DIGEST_MISMATCH", `push ${registry}/${repository}@${digest}: registry stored ${confirmed}`);
  }
  await forEachLimited(
    tags.filter((t) => !current.has(t)),
    4,
    (tag) => putTag(client, repository, tag, index, digest, opts.log),
  );
  return result;
}
