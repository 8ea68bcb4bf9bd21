/**
 * A container's writable root over the cached, read-only rootfs:
 *  - "overlay": an overlayfs mount (lower = the cached rootfs, upper/work in the run directory) at
 *    <run>/rootfs. Instant and costs only what the container writes. Needs the right to mount (root, or
 *    CAP_SYS_ADMIN); unmounted when the container ends (and by reapStale after a crash).
 *  - "copy": `cp -a --reflink=auto` of the cached rootfs. Works without privileges; costs the image's size in
 *    disk and time (a reflink when the file system supports it).
 *  - "auto" (default): overlay when the mount works, else copy.
 * Either way the cache is never written to by a container.
 */
import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { unmountSync } from "./cleanup";

export type RootfsMode = "auto" | "overlay" | "copy";

export interface WritableRoot {
  path: string;
  kind: "overlay" | "copy";
  /** Unmounts (overlay); the run directory itself is removed by the caller. */
  releaseSync(): void;
}

function exec(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      const code = err
        ? typeof (err as NodeJS.ErrnoException).code === "number"
          ? Number((err as NodeJS.ErrnoException).code)
          : 127
        : 0;
      resolve({
        code,
        stderr: stderr || (err && typeof (err as NodeJS.ErrnoException).code === "string" ? err.message : ""),
      });
    });
  });
}

/** Makes `<runDir>/rootfs` a writable view of `lower`. */
export async function writableRoot(lower: string, runDir: string, mode: RootfsMode = "auto"): Promise<WritableRoot> {
  const path = join(runDir, "rootfs");
  // overlayfs options are comma-separated and lowerdir is colon-separated: such paths cannot be given.
  const overlayable = !/[,:\\]/.test(lower + runDir);
  if (mode !== "copy" && overlayable) {
    const upper = join(runDir, "upper");
    const work = join(runDir, "work");
    await Promise.all([
      mkdir(path, { recursive: true }),
      mkdir(upper, { recursive: true }),
      mkdir(work, { recursive: true }),
    ]);
    const r = await exec("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      path,
    ]);
    if (r.code === 0) return { path, kind: "overlay", releaseSync: () => unmountSync(path) };
    if (mode === "overlay")
      throw new PipelineError("E_ROOTFS", `cannot mount an overlay root at ${path}: ${r.stderr.trim()}`);
    await Promise.all([
      rm(path, { recursive: true, force: true }),
      rm(upper, { recursive: true, force: true }),
      rm(work, { recursive: true, force: true }),
    ]);
  } else if (mode === "overlay") {
    throw new PipelineError(
      "E_ROOTFS",
      `cannot mount an overlay root: the path ${JSON.stringify(lower)} or ${JSON.stringify(runDir)} contains ',', ':' or '\\'`,
    );
  }
  const r = await exec("cp", ["-a", "--reflink=auto", "--", lower, path]);
  if (r.code !== 0)
    throw new PipelineError("E_ROOTFS", `cannot copy the image's root filesystem to ${path}: ${r.stderr.trim()}`);
  return { path, kind: "copy", releaseSync: () => undefined };
}
