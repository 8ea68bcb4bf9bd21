/**
 * The private directories that hold a git credential while git runs (auth.ts), made so that what a runner
 * killed with SIGKILL leaves behind is found and removed at the next start:
 *
 *  - Where: `tmpDir` (GitAuthOptions), else os.tmpdir() ($TMPDIR, /tmp): the same place every start looks.
 *  - Name: a temporary name of src/process/temp.ts, `.git-auth.tmp-<pid>-<start time>-<8 hex>`: the owning process
 *    and its start time (owner.ts), so a later process that got the same pid is not taken for the owner. Mode
 *    0700, created exclusively (mkdir fails when the name exists, as mkdtemp does). Earlier versions' names,
 *    `git-auth-<pid>-<start time>-<8 hex>`, are swept alike.
 *  - Marker: every git command run with the credential has `PIPELINE_GIT_AUTH_DIR=<dir>` in its environment,
 *    and its children (git-remote-http, the helper, ssh) inherit it.
 *  - Sweep (`sweepStaleAuthDirs`, once per process and directory before the first credential is written, and
 *    at each `pipeline run` start): for each such dir of ours (owned by our uid) whose owner is gone (temp.ts
 *    `listTemps`, owner.ts `ownerAlive`: a zombie is gone), the
 *    processes whose environment carries its marker (/proc/PID/environ, readable for our own processes: the
 *    marker names one dir, so pid reuse cannot mislead it) get SIGKILL, their whole process group when they
 *    lead one (git runs in a group of its own, ops.ts); then the files are overwritten with zeros and the dir
 *    is removed.
 * What remains: between a SIGKILL of the runner and the next start, the dir and the orphaned git stay: over
 * HTTP(S) the dir holds the helper and an empty FIFO (credential-fifo.ts: the secret was only in the runner's
 * memory and the pipe's), over SSH the key file (0600 in the 0700 dir); without /proc (not Linux) orphans are
 * not found, only the dirs removed.
 */
import { lstatSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { procStat } from "../process/owner";
import { scrubFileSync } from "../process/scrub";
import { listTemps, tempName } from "../process/temp";

/** The environment variable that names the credential dir in the environment of git and its children. */
export const AUTH_DIR_ENV = "PIPELINE_GIT_AUTH_DIR";

/** What the dirs are for: their temporary names are `.git-auth.tmp-...`. */
const AUTH_DIR = "git-auth";
/** Earlier versions' names: the owner's pid and start time. */
const LEGACY_NAME = /^git-auth-(\d+)-(\d+)-[0-9a-f]{8}$/;

/** Makes this process's private dir under `base` (which must exist). */
export async function createAuthDir(base: string): Promise<string> {
  const dir = join(base, tempName(AUTH_DIR));
  await mkdir(dir, { mode: 0o700 });
  await chmod(dir, 0o700); // whatever the umask
  return dir;
}

/** Overwrites the dir's files with zeros and removes it; never throws. */
export function removeAuthDirSync(dir: string): void {
  try {
    for (const name of readdirSync(dir)) scrubFileSync(join(dir, name));
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Our processes whose environment holds `AUTH_DIR_ENV=dir`, with their process groups. */
function markedProcesses(dir: string): { pid: number; pgrp: number }[] {
  const marker = Buffer.from(`\0${AUTH_DIR_ENV}=${dir}\0`);
  const out: { pid: number; pgrp: number }[] = [];
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${p}/environ`), Buffer.from([0])]);
      if (!environ.includes(marker)) continue;
      const st = procStat(pid);
      if (st && st.state !== "Z") out.push({ pid, pgrp: st.pgrp });
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

/** SIGKILL for the processes working with `dir`: their group when they lead one, else each alone. */
function killMarked(dir: string): number[] {
  const ownGroup = procStat("self")?.pgrp;
  const killed: number[] = [];
  for (const { pid, pgrp } of markedProcesses(dir)) {
    try {
      if (pgrp === pid && pgrp !== ownGroup) process.kill(-pgrp, "SIGKILL");
      else process.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  return killed;
}

const swept = new Set<string>();

/**
 * Removes the private dirs under `base` whose owner is gone, after killing the processes still working with
 * them. Returns the dirs removed. With `once`, a base already swept by this process is not looked at again.
 */
export function sweepStaleAuthDirs(base: string, opts: { once?: boolean } = {}): string[] {
  if (opts.once && swept.has(base)) return [];
  swept.add(base);
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const { path: dir, stale } of listTemps(base, { only: AUTH_DIR, owned: LEGACY_NAME })) {
    if (!stale) continue;
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    } catch {
      continue;
    }
    killMarked(dir);
    removeAuthDirSync(dir);
    removed.push(dir);
  }
  return removed;
}
