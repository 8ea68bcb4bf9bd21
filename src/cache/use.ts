/**
 * Uses of cache entries, and the lock that keeps `pipeline cache prune` from removing an entry as it is taken.
 *
 * A process that is going to use (or create) entry NAME of a cache directory calls `useEntry(dir, NAME)`
 * BEFORE it looks whether the entry exists:
 *   1. it writes its lease `NAME.use-<pid>-<start>` (kept until the process exits: a `pipeline run` uses its
 *      image's rootfs for as long as its containers run);
 *   2. it touches `NAME.used` (the entry's last use: prune's age and least-recently-used order; atime is not
 *      trusted, file systems mount noatime);
 *   3. it waits while a prune holds the directory's `prune.lock`.
 * All three live in the directory's state directory (names.ts stateDir), not among the entries.
 * A prune takes the lock first, then reads the leases, then removes entries, then lets go. So a use either wrote
 * its lease before prune read them (the entry is kept) or waits for the prune to end (and then sees the entry
 * gone, and fetches it again). A lease or a lock whose owner is gone counts for nothing (owner.ts).
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { leaseName, parseLeaseName, PRUNE_LOCK, stampName, stateDir } from "./names";
import { type Owner, ownerAlive, selfOwner } from "../process/owner";
import { holdTemp } from "../process/temp";

/** The leases this process has written; each is kept until it ends (process/temp.ts holdTemp removes it then). */
const leases = new Set<string>();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The owner written in a lock file, when it can be read. */
function lockOwner(path: string): Owner | undefined {
  try {
    const [pid, start] = readFileSync(path, "utf8").trim().split(/\s+/).map(Number);
    return Number.isInteger(pid) ? { pid, start: Number.isInteger(start) ? start : 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a live prune holds `dir`'s lock (a lock of an ended process is removed). */
function pruneRunning(dir: string): Owner | undefined {
  const path = join(stateDir(dir), PRUNE_LOCK);
  const owner = lockOwner(path);
  if (owner && (owner.pid === process.pid || ownerAlive(owner.pid, owner.start))) return owner;
  // No owner written: a prune between creating the lock and writing it (it reads no lease before it has written
  // it, so going on is safe), or one killed right there (its empty lock is removed after a while).
  if (!owner) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st || st.mtimeMs > Date.now() - 10_000) return undefined;
  }
  try {
    unlinkSync(path);
  } catch {
    // another process was first
  }
  return undefined;
}

export interface UseOptions {
  /** How long to wait for a prune of the directory to end (default 10 min). */
  waitMs?: number;
}

/** Declares that this process uses entry `name` of `dir` from now until it exits (see above). */
export async function useEntry(dir: string, name: string, opts: UseOptions = {}): Promise<void> {
  const lease = join(stateDir(dir), leaseName(name));
  if (!leases.has(lease)) {
    try {
      mkdirSync(stateDir(dir), { recursive: true });
      writeFileSync(lease, "");
      holdTemp(lease);
      leases.add(lease);
    } catch {
      // A directory this process cannot write to: it cannot prune it either, and reading goes on as before.
    }
  }
  touchStamp(dir, name);
  const deadline = Date.now() + (opts.waitMs ?? 600_000);
  for (let owner = pruneRunning(dir); owner && owner.pid !== process.pid; owner = pruneRunning(dir)) {
    if (Date.now() > deadline) {
      throw new PipelineError(
        "E_CACHE_LOCKED",
        `cache directory ${dir} is being pruned by pid ${owner.pid} (${join(stateDir(dir), PRUNE_LOCK)}); try again when it is done`,
      );
    }
    await sleep(100);
  }
}

/** Records a use of `name` now (its last-use stamp), without a lease. */
export function touchStamp(dir: string, name: string, when: Date = new Date()): void {
  const stamp = join(stateDir(dir), stampName(name));
  try {
    utimesSync(stamp, when, when);
  } catch {
    try {
      mkdirSync(stateDir(dir), { recursive: true });
      writeFileSync(stamp, "");
      utimesSync(stamp, when, when);
    } catch {
      // a stamp is a hint: without it the entry's own time counts
    }
  }
}

/** The entries of `dir` a running process has a lease on, with the pids. */
export function leasedEntries(dir: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let names: string[] = [];
  try {
    names = readdirSync(stateDir(dir));
  } catch {
    return out;
  }
  for (const n of names) {
    const l = parseLeaseName(n);
    if (!l || !ownerAlive(l.owner.pid, l.owner.start)) continue;
    out.set(l.for, [...(out.get(l.for) ?? []), l.owner.pid]);
  }
  return out;
}

/** Takes `dir`'s prune lock (waiting up to `waitMs` for another prune); the returned function lets go. */
export async function lockForPrune(dir: string, waitMs = 600_000): Promise<() => void> {
  mkdirSync(stateDir(dir), { recursive: true });
  const path = join(stateDir(dir), PRUNE_LOCK);
  const me = selfOwner();
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o644);
      try {
        writeSync(fd, `${me.pid} ${me.start}\n`);
      } finally {
        closeSync(fd);
      }
      // Removed at exit, or before a signal nobody decides on ends the process, unless released first.
      const release = holdTemp(path);
      return () => {
        release();
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = pruneRunning(dir);
    if (owner && Date.now() > deadline) {
      throw new PipelineError("E_CACHE_LOCKED", `cache directory ${dir} is being pruned by pid ${owner.pid} (${path})`);
    }
    await sleep(owner ? 100 : 10);
  }
}
