/**
 * Pushes an Image to a registry: every blob (config and layers) is checked with HEAD and skipped when
 * present, mounted from a candidate repository on the same registry when possible, and uploaded
 * otherwise (several at once). Only once every blob is confirmed does the manifest go up: by digest,
 * then under each tag. Success is reported only when the registry confirmed the manifest's digest.
 */
import { PipelineError } from "../errors";
import { sha256 } from "../oci/digest";
import { normalizeRegistry, validateRegistry, validateRepository, validateTag } from "../oci/reference";
import type { Blob } from "../layer/layer";
import type { Image } from "../image/image";
import type { Keychain } from "../auth/keychain";
import { RegistryClient } from "./client";
import type { Logger, RetryOptions } from "./http";
import { silentProgress, ProgressSink } from "./progress";
import { mountBlob, uploadBlob } from "./upload";

export interface PushTarget {
  registry: string;
  repository: string;
  tags?: string[];
}

export interface PushOptions {
  keychain?: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Repositories that may already hold these blobs; only those on the target registry are used. */
  mountFrom?: { registry: string; repository: string }[];
  retry?: RetryOptions;
  /** Blobs at least this big are uploaded in chunks (default 16 MiB). */
  chunkThreshold?: number;
  chunkSize?: number;
  log?: Logger;
  scheme?: "http" | "https";
}

export interface PushResult {
  digest: string;
  /** `registry/repository@sha256:...` */
  reference: string;
  tags: string[];
  uploaded: { digest: string; size: number }[];
  /** Digests the registry already had. */
  skipped: string[];
  mounted: string[];
}

/** Runs `fn` over `items` with at most `limit` at once; stops starting new work after the first failure. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

interface Labeled {
  blob: Blob;
  label: string;
}

function blobsOf(image: Image): Labeled[] {
  const seen = new Set<string>();
  const out: Labeled[] = [];
  const add = (blob: Blob, label: string) => {
    if (seen.has(blob.digest)) return;
    seen.add(blob.digest);
    out.push({ blob, label });
  };
  image.layers.forEach((l, i) => add(l, `layer ${i + 1}/${image.layers.length}`));
  add(image.configBlob, "config");
  return out;
}

export async function pushImage(image: Image, target: PushTarget, opts: PushOptions = {}): Promise<PushResult> {
  const registry = validateRegistry(target.registry, "push target registry");
  const repository = validateRepository(target.repository, "push target repository");
  const tags = (target.tags ?? []).map((t) => validateTag(t, "push tag"));
  const digest = sha256(image.manifestBytes);
  if (digest !== image.digest) {
    throw new PipelineError("E_DIGEST_MISMATCH", `image to push: its manifest bytes have digest ${digest}, the image says ${image.digest}`);
  }
  const progress = opts.progress ?? silentProgress;
  const client = new RegistryClient(registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    retry: opts.retry,
    log: opts.log,
    scheme: opts.scheme,
    access: "push",
  });
  const mountCandidates = (opts.mountFrom ?? [])
    .filter((c) => normalizeRegistry(c.registry) === normalizeRegistry(registry) && c.repository !== repository)
    .map((c) => validateRepository(c.repository, "mount candidate repository"));

  const result: PushResult = { digest, reference: `${registry}/${repository}@${digest}`, tags, uploaded: [], skipped: [], mounted: [] };

  await forEachLimited(blobsOf(image), opts.concurrency ?? 3, async ({ blob, label }) => {
    if (await client.blobExists(repository, blob.digest)) {
      result.skipped.push(blob.digest);
      progress.skip(blob.digest, `${label} already in ${registry}/${repository}`);
      return;
    }
    let session: URL | undefined;
    for (const from of mountCandidates) {
      const m = await mountBlob(client, repository, blob.digest, from);
      if (m.mounted) {
        result.mounted.push(blob.digest);
        progress.blobDone(blob.digest, "mounted");
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

  await client.putManifest(repository, digest, image.manifestBytes, image.mediaType);
  for (const tag of tags) {
    const confirmed = await client.putManifest(repository, tag, image.manifestBytes, image.mediaType);
    if (confirmed !== digest) throw new PipelineError("E_DIGEST_MISMATCH", `push ${registry}/${repository}:${tag}: registry stored ${confirmed}, expected ${digest}`);
  }
  return result;
}
