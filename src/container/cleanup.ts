/**
 * Last-resort cleanup. Every container the runner starts registers a synchronous undo (runc delete --force,
 * unmount, remove the bundle) that runs on process `exit` if the normal path did not get to it: a second
 * Ctrl-C that ends the CLI at once, an uncaught error, a signal to a library caller that handles none. Signals
 * are otherwise the CLI's business: it turns them into an AbortSignal (see src/cli/commands/run.ts), and the
 * normal path cleans up.
 *
 * What survives even that (SIGKILL of the runner, a crash of the machine) is found by `reapStale` at the next
 * run: containers and bundles are named `rp-<name>-<pid>-<start>-<8 hex>` (`containerName`), and those whose owner no
 * longer runs (src/process/owner.ts's rule: the pid and its start time, so a reused pid does not keep them) are
 * deleted.
 *
 * runc's config.json is a FIFO (config-fifo.ts) and holds nothing. Files that held environment values (an
 * engine's env file; a regular config.json of an older runner) are overwritten with zeros
 * before they are removed (`scrubFileSync`, src/process/scrub.ts, on every path including the reaper's), so the
 * values do not stay in the file system's free blocks.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { ownerAlive, selfOwner } from "../process/owner";
import { scrubFileSync } from "../process/scrub";
import { untilDone } from "../process/signals";
import { releaseConfigFifoSync } from "./config-fifo";

/**
 * Registers `fn` to run at process exit, and before a signal no command decides on ends the process
 * (src/process/signals.ts); the returned function unregisters it (call it once cleaned up).
 */
export function onExitCleanup(fn: () => void): () => void {
  return untilDone(fn);
}

/** `...-<pid>-<start>-<8 hex>[-<replica>]`: the owner's pid and start time (src/process/owner.ts). */
const OWNED_RE = /-(\d+)-(\d+)-[0-9a-f]{8}(?:-\d+)?$/;
/** An earlier runner's names, `...-<pid>-<8 hex>[-<replica>]`: the pid alone. */
const LEGACY_OWNED_RE = /-(\d+)-[0-9a-f]{8}(?:-\d+)?$/;

/** A new container's (or run directory's) name: `rp-<name>-<pid>-<start>-<8 hex>`, this process its owner. */
export function containerName(name: string): string {
  const { pid, start } = selfOwner();
  return `rp-${name}-${pid}-${start}-${randomBytes(4).toString("hex")}`;
}

/** The owner encoded in a container id or run directory name, when it is one of ours (start: none in old names). */
export function nameOwner(id: string): { pid: number; start?: number } | undefined {
  const m = OWNED_RE.exec(id);
  if (m) return { pid: Number(m[1]), start: Number(m[2]) };
  const legacy = LEGACY_OWNED_RE.exec(id);
  return legacy ? { pid: Number(legacy[1]) } : undefined;
}

/** Whether `id` is one of ours whose owner no longer runs (the pid, and the start time when the name has one). */
export function ownerGone(id: string): boolean {
  const owner = nameOwner(id);
  return owner !== undefined && !ownerAlive(owner.pid, owner.start);
}

/** Unmounts `path` if it is a mount point (lazily when busy); never throws. */
export function unmountSync(path: string): void {
  const r = spawnSync("umount", [path], { stdio: "ignore" });
  if (r.status !== 0) spawnSync("umount", ["-l", path], { stdio: "ignore" });
}

/** Run-directory files that hold environment values: scrubbed before the directory is removed. */
export const SECRET_BEARING = ["config.json", "env"];

/** Scrubs the secret-bearing files of a run directory (the caller removes it). */
export function scrubRunDirSync(runDir: string): void {
  for (const name of SECRET_BEARING) scrubFileSync(join(runDir, name));
}

/**
 * Removes run directories (`runs/rp-<name>-<pid>-<start>-<hex>`) whose owner is gone, unmounting an overlay root left
 * mounted in one first. Returns the names removed.
 */
export async function reapStaleRunDirs(runsDir: string): Promise<string[]> {
  const reaped: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(runsDir);
  } catch {
    return reaped;
  }
  let mounts = "";
  try {
    mounts = readFileSync("/proc/self/mounts", "utf8");
  } catch {
    // not Linux
  }
  for (const name of entries) {
    if (!ownerGone(name)) continue;
    const rootfs = join(runsDir, name, "rootfs");
    if (mounts.includes(` ${rootfs} `)) unmountSync(rootfs);
    // A runc the killed runner started but never fed its config (config-fifo.ts) is still waiting on the FIFO.
    releaseConfigFifoSync(join(runsDir, name, "config.json"));
    scrubRunDirSync(join(runsDir, name));
    await rm(join(runsDir, name), { recursive: true, force: true });
    reaped.push(name);
  }
  return reaped;
}
