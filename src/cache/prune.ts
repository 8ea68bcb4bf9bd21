/**
 * `pipeline cache prune`: gives disk space back without touching what a running process uses.
 *
 *   1. Temporary entries that ended processes left (sweep.ts), in every directory of layout.ts's tempDirs.
 *   2. With `olderThanMs`: entries (layout.ts entryDirs: images, rootfs, models, lockfile layers and bases, Bazel
 *      repositories, the CLI's code cache) not used for longer than that (last use: the entry's `NAME.used` stamp,
 *      else its own modification time).
 *   3. With `maxBytes`: then the least recently used entries until what is left of them (in-use ones included)
 *      is at most that many bytes.
 * An entry is in use, and kept whatever the limits say, while a running process holds a lease on it (use.ts),
 * while an overlay mount has it as a lower directory, or while a run directory (runs/<id>/mounts.json) mounts
 * something inside it (a container whose runner was killed may still run). Each entry directory is locked for
 * the time between reading its leases and the last removal (use.ts explains the protocol). An entry is renamed
 * to a temporary name first and removed after, so a prune killed half way leaves a leftover, never half an
 * entry that looks whole. `dryRun` says what would go and removes nothing.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type EntryKind, entryDirs, runsDir, tempDirs } from "./layout";
import { parseStampName, stampName, stateDir } from "./names";
import { tempPath } from "../process/temp";
import { sweepTemps } from "./sweep";
import { removeTree, treeBytes } from "../process/tree";
import { leasedEntries, lockForPrune } from "./use";

export interface PruneOptions {
  olderThanMs?: number;
  maxBytes?: number;
  dryRun?: boolean;
  now?: number;
}

export interface Candidate {
  /** Path of the entry. */
  path: string;
  bytes: number;
  /** ms since the epoch. */
  lastUse: number;
  inUse: boolean;
}

export type PruneReason = "leftover" | "age" | "size";

/** Which candidates go and why (pure): age first, then least recently used (larger first on a tie) down to maxBytes. */
export function planPrune<C extends Candidate>(
  cands: readonly C[],
  opts: PruneOptions,
): { entry: C; reason: PruneReason }[] {
  const now = opts.now ?? Date.now();
  const out: { entry: C; reason: PruneReason }[] = [];
  const left: C[] = [];
  for (const c of cands) {
    if (!c.inUse && opts.olderThanMs !== undefined && now - c.lastUse > opts.olderThanMs)
      out.push({ entry: c, reason: "age" });
    else left.push(c);
  }
  if (opts.maxBytes !== undefined) {
    let total = left.reduce((sum, c) => sum + c.bytes, 0);
    const lru = left
      .filter((c) => !c.inUse)
      .sort((a, b) => a.lastUse - b.lastUse || b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
    for (const c of lru) {
      if (total <= opts.maxBytes) break;
      out.push({ entry: c, reason: "size" });
      total -= c.bytes;
    }
  }
  return out;
}

export interface PruneEntry extends Candidate {
  kind: EntryKind | "temp";
  /** Pids of the processes holding a lease on it. */
  pids?: number[];
}

export interface PruneResult {
  root: string;
  dryRun: boolean;
  removed: (PruneEntry & { reason: PruneReason })[];
  /** Entries kept because something uses them. */
  inUse: PruneEntry[];
  /** Bytes of the entries left (in-use ones included), temporary entries not counted. */
  keptBytes: number;
}

/** Unescapes a /proc/self/mounts field (\040 for a space, ...). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Paths something running refers to: overlay lower directories, and the mount sources of run directories. */
export function referencedPaths(root: string): string[] {
  const refs: string[] = [];
  try {
    for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
      const opts = line.split(" ")[3] ?? "";
      for (const o of opts.split(","))
        if (o.startsWith("lowerdir=")) refs.push(...o.slice(9).split(":").map(unescapeMount));
    }
  } catch {
    // not Linux
  }
  const runs = runsDir(root);
  let ids: string[] = [];
  try {
    ids = readdirSync(runs);
  } catch {
    // no runs
  }
  for (const id of ids) {
    // mounts.json (src/container/mounts-record.ts), else the config.json of an older runner. Regular files only: a
    // runc config.json is a FIFO today (src/container/config-fifo.ts), and opening it would wait for a writer.
    for (const name of ["mounts.json", "config.json"]) {
      const path = join(runs, id, name);
      try {
        if (!lstatSync(path).isFile()) continue;
        const record = JSON.parse(readFileSync(path, "utf8")) as { mounts?: { source?: string }[] };
        for (const m of record.mounts ?? [])
          if (typeof m.source === "string" && m.source.startsWith("/")) refs.push(m.source);
        break;
      } catch {
        // absent (a run being set up: its lease covers it) or unreadable
      }
    }
  }
  return refs.map((p) => resolve(p));
}

function lastUseOf(dir: string, name: string): number {
  for (const p of [join(stateDir(dir), stampName(name)), join(dir, name)]) {
    try {
      return lstatSync(p).mtimeMs;
    } catch {
      // next
    }
  }
  return 0;
}

async function removeEntry(path: string): Promise<boolean> {
  const doomed = tempPath(path);
  try {
    renameSync(path, doomed);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  rmSync(join(stateDir(dirname(path)), stampName(basename(path))), { force: true });
  await removeTree(doomed);
  return true;
}

/** Removes last-use stamps whose entry is gone (removed by other means) and that no running process uses. */
function removeOrphanStamps(dir: string, leased: Map<string, number[]> = new Map()): void {
  const state = stateDir(dir);
  let names: string[] = [];
  try {
    names = readdirSync(state);
  } catch {
    return;
  }
  for (const n of names) {
    const entry = parseStampName(n);
    if (entry !== undefined && !leased.has(entry) && !existsSync(join(dir, entry)))
      rmSync(join(state, n), { force: true });
  }
}

export async function pruneCache(rootDir: string, opts: PruneOptions = {}): Promise<PruneResult> {
  const root = resolve(rootDir);
  const now = opts.now ?? Date.now();
  const dryRun = opts.dryRun ?? false;
  const removed: PruneResult["removed"] = [];
  for (const { dir, opts: o } of tempDirs(root)) {
    for (const t of await sweepTemps(dir, { ...o, now, dryRun, measure: true })) {
      removed.push({ kind: "temp", path: t.path, bytes: t.bytes ?? 0, lastUse: 0, inUse: false, reason: "leftover" });
    }
  }
  const dirs = entryDirs(root);
  // Sizes first (entries never change once in place), then the locks, then who uses what.
  const seen = new Set<string>();
  const found = dirs.flatMap((d) => {
    let names: string[] = [];
    try {
      names = readdirSync(d.dir).filter((n) => d.entry.test(n));
    } catch {
      // no such directory
    }
    return names.map((name) => ({ d, name, path: join(d.dir, name), bytes: treeBytes(join(d.dir, name), seen) }));
  });
  const unlock: (() => void)[] = [];
  try {
    // One directory after the other, in one order: two prunes cannot hold one lock each and wait for the other.
    if (!dryRun)
      for (const d of dirs.filter((x) => found.some((f) => f.d === x))) unlock.push(await lockForPrune(d.dir));
    const leases = new Map(dirs.map((d) => [d.dir, leasedEntries(d.dir)]));
    const refs = referencedPaths(root);
    const cands: PruneEntry[] = found.map(({ d, name, path, bytes }) => {
      const pids = leases.get(d.dir)?.get(name);
      const inUse = Boolean(pids?.length) || refs.some((r) => r === path || r.startsWith(path + "/"));
      return { kind: d.kind, path, bytes, lastUse: lastUseOf(d.dir, name), inUse, ...(pids ? { pids } : {}) };
    });
    const plan = planPrune(cands, { ...opts, now });
    for (const { entry, reason } of plan) {
      if (dryRun || (await removeEntry(entry.path))) removed.push({ ...entry, reason });
    }
    if (!dryRun) for (const d of dirs) removeOrphanStamps(d.dir, leases.get(d.dir));
    const gone = new Set(plan.map((p) => p.entry.path));
    const kept = cands.filter((c) => !gone.has(c.path));
    return {
      root,
      dryRun,
      removed,
      inUse: kept.filter((c) => c.inUse),
      keptBytes: kept.reduce((sum, c) => sum + c.bytes, 0),
    };
  } finally {
    for (const release of unlock) release();
  }
}
