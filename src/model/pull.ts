/**
 * `pullModel`: a model artifact into a directory, atomically. Everything is written into a temporary sibling of
 * `outDir` and renamed into place only when every blob arrived and was verified, so a failure never leaves a
 * half-written model where one is expected. The temporary sibling is named by src/process/temp.ts, and a pull first
 * sweeps the ones killed pulls into the same directory left (never anything else beside it).
 */
import type { Digest } from "../oci/digest";
import { promises as fsp, readdirSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { holdTemp, makeTempDirSync, sweepBeforeWrite, tempPath } from "../process/temp";
import { PipelineError } from "../errors";
import type { Reference } from "../oci/reference";
import type { Keychain } from "../registry-auth/keychain";
import type { LayerLimits } from "../layer/limits";
import type { ProgressSink } from "../registry/progress";
import { fetchModelInto, resolveModel } from "./fetch";

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
    await moveInto(modelDir, out, opts.replace ?? false);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    release();
  }
  return { digest: resolved.digest };
}
