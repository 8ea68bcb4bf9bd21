/**
 * `pullModel`: a model artifact into a directory, atomically. Everything is written into a temporary sibling of
 * `outDir` and renamed into place only when every blob arrived and was verified, so a failure never leaves a
 * half-written model where one is expected. The temporary sibling is named by src/process/temp.ts, and a pull first
 * sweeps the ones killed pulls into the same directory left (never anything else beside it).
 */
import type { Digest } from "../oci/digest";
import { constants as fsc, promises as fsp, readdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { holdTemp, makeTempDirSync, sweepBeforeWrite, tempPath } from "../process/temp";
import { PipelineError } from "../errors";
import type { Reference } from "../oci/reference";
import type { Keychain } from "../registry-auth/keychain";
import type { LayerLimits } from "../layer/limits";
import type { ProgressSink } from "../registry/progress";
import { fetchModelInto, resolveModel } from "./fetch";
import { blobOfLink, MODEL_BLOB_FILE, MODEL_BLOBS_DIR } from "./artifact";

export interface PullModelOptions {
  keychain: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Replace `outDir` when it is a non-empty directory (default: refuse, so no one's files are deleted by mistake). */
  replace?: boolean;
  /** Limits on unpacking the directory layer, and the free space to leave (src/layer/limits.ts). */
  limits?: LayerLimits;
}

function entriesOf(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new PipelineError(
      "E_MODEL_OUTPUT",
      `model output ${dir}: ${code === "ENOTDIR" ? "exists and is not a directory" : (e as Error).message}`,
    );
  }
}

/** Moves `src` to `dest`, replacing an empty (or, with `replace`, any) directory there. */
async function moveInto(src: string, dest: string, replace: boolean): Promise<void> {
  const existing = entriesOf(dest);
  if (existing === undefined) return fsp.rename(src, dest);
  if (existing.length === 0) {
    await fsp.rmdir(dest);
    return fsp.rename(src, dest);
  }
  if (!replace)
    throw new PipelineError(
      "E_MODEL_OUTPUT",
      `model output ${dest} is a non-empty directory; remove it, pick another, or replace it (--force)`,
    );
  const old = tempPath(dest);
  await fsp.rename(dest, old);
  await fsp.rename(src, dest);
  await fsp.rm(old, { recursive: true, force: true });
}

/**
 * Puts each big file of the image-volume form back at its path: the tree's links to `.blobs/<hex>/data` (which a
 * mounted image volume keeps, so that a blob is stored once) become the files, and `.blobs` goes, so a pull gives
 * back the directory that was pushed. The first path of a blob gets the file itself, further ones copies.
 */
async function materializeBlobs(modelDir: string): Promise<void> {
  const blobs = join(modelDir, MODEL_BLOBS_DIR);
  if (!(await fsp.lstat(blobs).catch(() => undefined))?.isDirectory()) return;
  const placed = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const d of await fsp.readdir(join(modelDir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${d.name}` : d.name;
      if (path === MODEL_BLOBS_DIR) continue;
      if (d.isDirectory()) await walk(path);
      else if (d.isSymbolicLink()) {
        const hex = blobOfLink(path, await fsp.readlink(join(modelDir, path)));
        if (!hex) continue;
        const first = placed.get(hex);
        const host = join(modelDir, path);
        if (first) {
          await fsp.rm(host);
          await fsp.copyFile(first, host, fsc.COPYFILE_EXCL);
        } else {
          await fsp.rename(join(blobs, hex, MODEL_BLOB_FILE), host);
          placed.set(hex, host);
        }
        await fsp.lutimes(host, 0, 0);
      }
    }
  };
  await walk("");
  await fsp.rm(blobs, { recursive: true, force: true });
}

/** Pulls the model `ref` names into `outDir` (absent, empty, or replaced with `replace`). */
export async function pullModel(ref: Reference, outDir: string, opts: PullModelOptions): Promise<{ digest: Digest }> {
  const out = resolve(outDir);
  const existing = entriesOf(out);
  if (existing?.length && !opts.replace) {
    throw new PipelineError(
      "E_MODEL_OUTPUT",
      `model output ${outDir} is a non-empty directory; remove it, pick another, or replace it (--force)`,
    );
  }
  const resolved = await resolveModel(ref, opts);
  await fsp.mkdir(dirname(out), { recursive: true });
  await sweepBeforeWrite(dirname(out), { only: basename(out) });
  const tmp = makeTempDirSync(out);
  const release = holdTemp(tmp);
  try {
    const { modelDir } = await fetchModelInto(resolved, tmp, opts.progress, opts.limits);
    await materializeBlobs(modelDir);
    await moveInto(modelDir, out, opts.replace ?? false);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    release();
  }
  return { digest: resolved.digest };
}
