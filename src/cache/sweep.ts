/**
 * Sweeping what ended processes left in a directory: temporary entries (names.ts) and leases whose owner no
 * longer runs. Every writer of the caches sweeps the directories it writes into when it starts (one readdir
 * each, no walk), `pipeline pull --output DIR` and `pipeline model pull --output DIR` sweep DIR's own
 * temporary siblings (never anything else in a user's directory), and `pipeline cache prune` sweeps them all.
 *
 * A temporary entry is stale when
 *   - current scheme: its owner (pid + start time) no longer runs;
 *   - legacy name with a pid: that pid no longer runs, or it is older than LEGACY_MAX_AGE_MS (the pid may have
 *     been reused: a legacy name cannot tell);
 *   - legacy name without an owner (mkdtemp's): older than LEGACY_MAX_AGE_MS.
 * A write in progress (its owner runs) is never touched.
 */
import { lstatSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { tempDirs } from "./layout";
import { parseLeaseName, parseTempName, stateDir, type TempName, type TempRules } from "./names";
import { ownerAlive } from "../process/owner";
import { removeTree, treeBytes } from "./tree";

/** Age after which a temporary entry of an earlier naming scheme counts as left over whatever its pid says. */
export const LEGACY_MAX_AGE_MS = 24 * 3600_000;

export interface SweepOptions extends TempRules {
  now?: number;
  /** List what would be removed, remove nothing. */
  dryRun?: boolean;
  /** Measure the bytes of each stale entry (a walk: for `cache prune`/`cache du`, not for writers). */
  measure?: boolean;
}

export interface TempEntry {
  path: string;
  name: string;
  temp: TempName;
  /** Its owner is gone (see above). */
  stale: boolean;
  bytes?: number;
}

function classify(name: string, opts: SweepOptions): TempName | undefined {
  const t = parseTempName(name);
  if (t) return t;
  const m = opts.owned?.exec(name);
  if (m) return { for: "", owner: { pid: Number(m[1]) }, scheme: "legacy" };
  if (opts.ownerless?.test(name)) return { for: "", scheme: "legacy" };
  return undefined;
}

function isStale(path: string, t: TempName, now: number): boolean {
  if (t.owner && !ownerAlive(t.owner.pid, t.owner.start)) return true;
  if (t.scheme === "current") return false;
  try {
    return now - lstatSync(path).mtimeMs > LEGACY_MAX_AGE_MS;
  } catch {
    return false;
  }
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The temporary entries of `dir` (matching `only` when given), each said stale or not. */
export function listTemps(dir: string, opts: SweepOptions = {}): TempEntry[] {
  const now = opts.now ?? Date.now();
  const out: TempEntry[] = [];
  for (const name of names(dir)) {
    const temp = classify(name, opts);
    if (!temp || (opts.only !== undefined && temp.for !== opts.only)) continue;
    const path = join(dir, name);
    const e: TempEntry = { path, name, temp, stale: isStale(path, temp, now) };
    if (opts.measure) e.bytes = treeBytes(path);
    out.push(e);
  }
  return out;
}

/** Removes the leases in `dir` whose owner is gone (for `only`'s entry alone, when given). */
export function sweepLeases(dir: string, only?: string): void {
  const state = stateDir(dir);
  for (const name of names(state)) {
    const l = parseLeaseName(name);
    if (!l || (only !== undefined && l.for !== only) || ownerAlive(l.owner.pid, l.owner.start)) continue;
    try {
      unlinkSync(join(state, name));
    } catch {
      // another sweep was first
    }
  }
}

/** Removes the stale temporary entries (and dead leases) of `dir`; returns what it removed (or would, dryRun). */
export async function sweepTemps(dir: string, opts: SweepOptions = {}): Promise<TempEntry[]> {
  const stale = listTemps(dir, opts).filter((e) => e.stale);
  if (opts.dryRun) return stale;
  for (const e of stale) await removeTree(e.path);
  sweepLeases(dir, opts.only);
  return stale;
}

/** sweepTemps for a writer: never fails the write it precedes (a sweep that cannot remove something retries next time). */
export async function sweepBeforeWrite(dir: string, opts: SweepOptions = {}): Promise<void> {
  try {
    await sweepTemps(dir, opts);
  } catch {
    // best effort
  }
}

/** Sweeps every directory of the cache root where temporary entries appear (layout.ts tempDirs); best effort. */
export async function sweepCache(root: string): Promise<void> {
  for (const { dir, opts } of tempDirs(root)) await sweepBeforeWrite(dir, opts);
}
