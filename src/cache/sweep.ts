/**
 * Sweeping the cache: what ended processes left in its directories, temporary entries (src/process/temp.ts) and
 * leases whose owner no longer runs. Every writer of the caches sweeps the directories it writes into when it starts,
 * `pipeline cache prune` sweeps them all.
 */
import { readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { tempDirs } from "./layout";
import { parseLeaseName, stateDir } from "./names";
import { ownerAlive } from "../process/owner";
import { removeStaleTemps, type SweepOptions, type TempEntry } from "../process/temp";

function names(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
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

/** Removes the stale temporary entries and dead leases of cache directory `dir`; returns the entries removed (or would, dryRun). */
export async function sweepTemps(dir: string, opts: SweepOptions = {}): Promise<TempEntry[]> {
  const stale = await removeStaleTemps(dir, opts);
  if (!opts.dryRun) sweepLeases(dir, opts.only);
  return stale;
}

/** sweepTemps for a writer of the cache: never fails the write it precedes. */
export async function sweepCacheDir(dir: string, opts: SweepOptions = {}): Promise<void> {
  try {
    await sweepTemps(dir, opts);
  } catch {
    // best effort
  }
}

/** Sweeps every directory of the cache root where temporary entries appear (layout.ts tempDirs); best effort. */
export async function sweepCache(root: string): Promise<void> {
  for (const { dir, opts } of tempDirs(root)) await sweepCacheDir(dir, opts);
}
