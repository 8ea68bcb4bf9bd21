/**
 * `syncModel`: the host directory holding a deployment's model, from the cache when it has it (cache.ts).
 * A digest reference on a cache hit costs no request at all; a tag costs one HEAD (resolving it, with a warning:
 * tags move). A miss downloads into a temporary entry, verifies every blob, writes the marker, and renames the
 * entry into place; a concurrent sync of the same digest that finishes first wins, and its entry is used.
 * Each sync first sweeps what killed syncs left in the cache (src/cache/sweep.ts) and takes a lease on the entry
 * it returns (src/cache/use.ts): `pipeline cache prune` keeps it while this process runs.
 */
import type { Digest } from "../oci/digest";
import { mkdirSync, promises as fsp, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { holdTemp, makeTempDirSync } from "../process/temp";
import { sweepCacheDir } from "../cache/sweep";
import { useEntry } from "../cache/use";
import { PipelineError } from "../errors";
import { formatReference, parseReference, type Reference } from "../oci/reference";
import type { Keychain } from "../registry-auth/keychain";
import { resolveDigest } from "../registry/pull";
import type { LayerLimits } from "../layer/limits";
import type { ProgressSink } from "../registry/progress";
import {
  type CacheMarker,
  checkEntry,
  defaultModelCacheDir,
  entryDir,
  listTree,
  MANIFEST_FILE,
  MARKER_FILE,
  MODEL_DIR,
} from "./cache";
import { fetchModelInto, resolveModel } from "./fetch";
import { entryExists } from "../fs-exists";

export interface SyncModelOptions {
  keychain: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Default `$XDG_CACHE_HOME/rules_pipeline/models`, else `~/.cache/rules_pipeline/models`. */
  cacheDir?: string;
  /** Receives warnings (a tag resolved, a damaged cache entry replaced). */
  warn?(line: string): void;
  /** On a cache hit, re-hash every file against the marker (default: types, modes, sizes and links only). */
  verifyContent?: boolean;
  /** Limits on unpacking the directory layer, and the free space to leave (src/layer/limits.ts). */
  limits?: LayerLimits;
}

async function download(ref: Reference, digest: Digest, entry: string, opts: SyncModelOptions): Promise<void> {
  const resolved = await resolveModel({ ...ref, tag: undefined, digest }, opts);
  mkdirSync(dirname(entry), { recursive: true });
  const tmp = makeTempDirSync(entry);
  const release = holdTemp(tmp);
  try {
    const root = join(tmp, "unpack");
    const { modelDir, fileDigests } = await fetchModelInto(resolved, root, opts.progress, opts.limits);
    await fsp.rename(modelDir, join(tmp, MODEL_DIR));
    await fsp.rm(root, { recursive: true, force: true });
    writeFileSync(join(tmp, MANIFEST_FILE), resolved.manifestBytes);
    const marker: CacheMarker = {
      version: 1,
      digest,
      entries: await listTree(join(tmp, MODEL_DIR), { hash: true, known: fileDigests }),
    };
    writeFileSync(join(tmp, MARKER_FILE), JSON.stringify(marker));
    try {
      await fsp.rename(tmp, entry);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Another sync put the same digest in place first: use it if it is whole.
      if ((code !== "ENOTEMPTY" && code !== "EEXIST") || (await checkEntry(entry, digest, false)) !== undefined)
        throw e;
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    release();
  }
}

/**
 * Makes the model `id` (HOST/REPO@sha256:... or HOST/REPO:TAG) available on this host and returns its manifest
 * digest and the directory holding it (to be mounted read-only; never write into it).
 */
export async function syncModel(id: string, opts: SyncModelOptions): Promise<{ digest: Digest; dir: string }> {
  const ref = parseReference(id, "model id");
  let digest = ref.digest;
  if (!digest) {
    digest = await resolveDigest(ref, { keychain: opts.keychain, insecure: opts.insecure });
    opts.warn?.(
      `model ${id}: tag ${JSON.stringify(ref.tag ?? "latest")} resolved to ${digest}; tags can move, so another run may get other bytes. ` +
        `Pin it: ${formatReference({ ...ref, tag: undefined, digest })}`,
    );
  }
  const cacheDir = resolve(opts.cacheDir ?? defaultModelCacheDir());
  const entry = entryDir(cacheDir, digest);
  await sweepCacheDir(dirname(entry));
  await useEntry(dirname(entry), basename(entry));
  const problem = await checkEntry(entry, digest, opts.verifyContent ?? false);
  if (problem === undefined) return { digest, dir: join(entry, MODEL_DIR) };
  if (await entryExists(entry)) {
    opts.warn?.(`model cache entry ${entry} is not whole (${problem}); fetching it again`);
    await fsp.rm(entry, { recursive: true, force: true });
  }
  try {
    await download(ref, digest, entry, opts);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError(
      "E_MODEL_CACHE",
      `model ${id}: cannot write cache entry ${entry}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  return { digest, dir: join(entry, MODEL_DIR) };
}
