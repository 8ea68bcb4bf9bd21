/**
 * Pushes an Image to a registry. HEADs of the manifest come first, by tag and then by digest: when the registry
 * has it, no blob is checked and only the tags that do not name it yet are PUT (a no-op push of one tag is one
 * request). Otherwise every blob (config and layers) is checked with HEAD and skipped when present, mounted
 * from a candidate repository on the same registry when possible, and uploaded otherwise (several at once).
 * Only once every blob is confirmed does the manifest go up: by digest, then under each tag. Success is reported only when the registry confirmed the manifest's digest.
 */
import { PipelineError } from "../errors";
import { type Digest, sha256 } from "../oci/digest";
import { normalizeRegistry, validateRegistry, validateRepository, validateTag } from "../oci/reference";
import type { Blob, Image } from "../oci/model";
import { forEachLimited } from "../concurrency";
import type { Keychain } from "../registry-auth/keychain";
import { RegistryClient } from "./client";
import { RegistryError } from "./errors";
import { backoffDelay, type Logger, type RetryOptions } from "./http";
import { silentProgress, type ProgressSink } from "./progress";
import type { TransferRate } from "./transfer-rate";

export interface PushTarget {
  registry: string;
  repository: string;
  tags?: string[];
}

export interface PushOptions {
  keychain?: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Blobs uploaded at once (default 4, as crane). */
  concurrency?: number;
  /** Repositories that may already hold these blobs; only those on the target registry are used. */
  mountFrom?: { registry: string; repository: string }[];
  retry?: RetryOptions;
  /** Blobs at least this big go up by PATCH (default 16 MiB), in one unless chunkSize is given or the registry answers 413. */
  chunkThreshold?: number;
  chunkSize?: number;
  log?: Logger;
  scheme?: "http" | "https";
  /** How slow the registry's answers may be (default: the limits' defaults; a push's CLI reads the environment's). */
  transfer?: TransferRate;
}

export interface PushResult {
  digest: Digest;
  /** `registry/repository@sha256:...` */
  reference: string;
  tags: string[];
  uploaded: { digest: Digest; size: number }[];
  /** Digests the registry already had. */
  skipped: Digest[];
  mounted: Digest[];
}

export interface Labeled {
  blob: Blob;
  label: string;
}

/**
 * The distinct blobs (layers, then config) of `images`, each once, labelled by the first image naming it (with that
 * image's `prefix`), the largest first: the longest uploads start first, so the last to finish is not a big blob
 * that waited for a free slot behind small ones.
 */
export function blobsOf(images: readonly { image: Image; prefix: string }[]): Labeled[] {
  const seen = new Set<string>();
  const out: Labeled[] = [];
  const add = (blob: Blob, label: string) => {
    if (seen.has(blob.digest)) return;
    seen.add(blob.digest);
    out.push({ blob, label });
  };
  for (const { image, prefix } of images) {
    image.layers.forEach((l, i) => {
      add(l, `${prefix}layer ${i + 1}/${image.layers.length}`);
    });
    add(image.configBlob, `${prefix}config`);
  }
  // A stable sort: blobs of equal size keep the images' order.
  return out.sort((a, b) => b.blob.size - a.blob.size);
}

function pushClient(registry: string, opts: PushOptions): RegistryClient {
  return new RegistryClient(registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    retry: opts.retry,
    log: opts.log,
    scheme: opts.scheme,
    transfer: opts.transfer,
    access: "push",
  });
}

/**
 * The target's registry, repository and tags, each checked against the reference grammar, and the digest of the
 * manifest (or index) bytes to push, which must be the one the image claims (E_DIGEST_MISMATCH naming `what`).
 */
export function checkedPush(
  target: PushTarget,
  bytes: Buffer,
  claimed: Digest,
  what: string,
): Required<PushTarget> & { digest: Digest } {
  const registry = validateRegistry(target.registry, "push target registry");
  const repository = validateRepository(target.repository, "push target repository");
  const tags = (target.tags ?? []).map((t) => validateTag(t, "push tag"));
  const digest = sha256(bytes);
  if (digest !== claimed) {
    throw new PipelineError(
      "E_DIGEST_MISMATCH",
      `${what} to push: its bytes have digest ${digest}, the ${what} says ${claimed}`,
    );
  }
  return { registry, repository, tags, digest };
}

export async function pushImage(image: Image, target: PushTarget, opts: PushOptions = {}): Promise<PushResult> {
  const { client, repository, tags, digest, where, result } = beginPush(
    target,
    image.manifestBytes,
    image.digest,
    "image",
    opts,
  );
  const current = await tagsNaming(client, repository, tags, digest);
  const blobs = blobsOf([{ image, prefix: "" }]);
  if (current.size > 0 || (await hasManifest(client, repository, digest))) skipAll(blobs, where, opts, result);
  else {
    await pushBlobs(client, blobs, where, opts, result);
    await putManifest(client, repository, digest, image, opts.log);
  }
  await tagRest(client, repository, tags, current, image, digest, opts.log);
  return result;
}

/**
 * What every push starts from (pushImage, pushIndex): the target checked (checkedPush), the registry's client, and
 * the result as it stands before anything is sent: the reference by digest, nothing uploaded, skipped or mounted.
 */
export function beginPush(
  target: PushTarget,
  bytes: Buffer,
  claimed: Digest,
  what: string,
  opts: PushOptions,
): Required<PushTarget> & {
  digest: Digest;
  client: RegistryClient;
  where: { registry: string; repository: string };
  result: PushResult;
} {
  const checked = checkedPush(target, bytes, claimed, what);
  const { registry, repository, tags, digest } = checked;
  const result: PushResult = {
    digest,
    reference: `${registry}/${repository}@${digest}`,
    tags,
    uploaded: [],
    skipped: [],
    mounted: [],
  };
  return { ...checked, client: pushClient(registry, opts), where: { registry, repository }, result };
}

/**
 * Points each of `tags` that `current` (tagsNaming) lacks at the pushed manifest, one after the other in the order
 * given (a registry's log, and a reader watching the tags, see them set in that order).
 */
export async function tagRest(
  client: RegistryClient,
  repository: string,
  tags: readonly string[],
  current: ReadonlySet<string>,
  manifest: ManifestBytes,
  digest: Digest,
  log?: Logger,
): Promise<void> {
  for (const tag of tags) if (!current.has(tag)) await putTag(client, repository, tag, manifest, digest, log);
}

/**
 * The tags that name `digest` already. One such tag proves the manifest (and so every blob it names: registries
 * check that on PUT) is in the repository; when there is none, the caller asks by digest.
 */
export async function tagsNaming(
  client: RegistryClient,
  repository: string,
  tags: readonly string[],
  digest: Digest,
): Promise<Set<string>> {
  const current = new Set<string>();
  await forEachLimited(tags, 4, async (tag) => {
    if (await hasManifest(client, repository, tag, digest)) current.add(tag);
  });
  return current;
}

/** Reports `blobs` as present: a manifest naming them is in the repository already. */
export function skipAll(
  blobs: readonly Labeled[],
  target: { registry: string; repository: string },
  opts: PushOptions,
  result: PushResult,
): void {
  const progress = opts.progress ?? silentProgress;
  for (const { blob, label } of blobs) {
    result.skipped.push(blob.digest);
    progress.skip(blob.digest, `already in ${target.registry}/${target.repository}`, label);
  }
}

/**
 * Makes every blob of `blobs` present in the repository, `opts.concurrency` (default 4) at once: each is checked
 * with HEAD and skipped when present, mounted from a candidate repository on the same registry when possible, and
 * uploaded otherwise. Outcomes are added to `result`.
 */
export async function pushBlobs(
  client: RegistryClient,
  blobs: readonly Labeled[],
  target: { registry: string; repository: string },
  opts: PushOptions,
  result: PushResult,
): Promise<void> {
  const { registry, repository } = target;
  const progress = opts.progress ?? silentProgress;
  const mountCandidates = (opts.mountFrom ?? [])
    .filter((c) => normalizeRegistry(c.registry) === normalizeRegistry(registry) && c.repository !== repository)
    .map((c) => validateRepository(c.repository, "mount candidate repository"));
  await forEachLimited(blobs, opts.concurrency ?? 4, async ({ blob, label }) => {
    if (await client.blobExists(repository, blob.digest)) return skipAll([{ blob, label }], target, opts, result);
    const { mountBlob, uploadBlob } = await import("./upload.js"); // loaded only when a blob must go up
    let session: URL | undefined;
    for (const from of mountCandidates) {
      const m = await mountBlob(client, repository, blob.digest, from);
      if (m.mounted) {
        result.mounted.push(blob.digest);
        progress.blobDone(blob.digest, "mounted", label);
        return;
      }
      session = m.session; // an upload session: use the last one, abandon the others
    }
    progress.blobStart(blob.digest, blob.size, label);
    await uploadBlob(client, repository, blob, {
      session,
      chunkThreshold: opts.chunkThreshold,
      chunkSize: opts.chunkSize,
      onProgress: (n) => progress.blobProgress(blob.digest, n),
    });
    result.uploaded.push({ digest: blob.digest, size: blob.size });
    progress.blobDone(blob.digest, "uploaded");
  });
}

/** What a manifest PUT sends: an image's manifest or an index, as exact bytes. */
export interface ManifestBytes {
  manifestBytes: Buffer;
  mediaType: string;
}

export async function putTag(
  client: RegistryClient,
  repository: string,
  tag: string,
  image: ManifestBytes,
  digest: Digest,
  log?: Logger,
): Promise<void> {
  const confirmed = await putManifest(client, repository, tag, image, log);
  if (confirmed !== digest)
    throw new PipelineError(
      "E_DIGEST_MISMATCH",
      `push ${client.registry}/${repository}:${tag}: registry stored ${confirmed}, expected ${digest}`,
    );
}

/**
 * Whether `reference` (a tag, or the digest itself) names the manifest with digest `digest` in the repository.
 * Only a Docker-Content-Digest header saying so counts: a registry that answers HEAD without one, or refuses
 * it (401, 403, an odd 4xx), gets the full push, whose errors name the problem.
 */
export async function hasManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  digest = reference,
): Promise<boolean> {
  try {
    return (await client.headManifest(repository, reference))?.digest === digest;
  } catch (e) {
    if (e instanceof RegistryError) return false;
    throw e;
  }
}

/**
 * PUTs the manifest once every blob it names was confirmed. A registry that still calls one of them unknown
 * (MANIFEST_BLOB_UNKNOWN) is catching up with another push of the same blob into this repository (distribution
 * 2.x rewrites a repository's blob link in place, and a manifest check reading it meanwhile finds it empty), so
 * that answer is retried with backoff, as often as the transport retries.
 */
export async function putManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  image: ManifestBytes,
  log?: Logger,
): Promise<Digest> {
  const { retries, baseDelayMs, maxDelayMs } = client.transport.retry;
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.putManifest(repository, reference, image.manifestBytes, image.mediaType);
    } catch (e) {
      if (!(e instanceof RegistryError && e.hasCode("MANIFEST_BLOB_UNKNOWN")) || attempt >= retries) throw e;
      const delay = backoffDelay(attempt, baseDelayMs, maxDelayMs);
      log?.(
        `push manifest ${reference} to ${client.registry}/${repository}: MANIFEST_BLOB_UNKNOWN; retrying in ${delay} ms (attempt ${attempt + 2}/${retries + 1})`,
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
