/**
 * `pipeline cache du`: the bytes under the cache root by kind (layout.ts USAGE_KINDS), temporary entries apart
 * (in-progress writes and what ended processes left; `stale` counts the latter), and the total. Apparent sizes,
 * each hard-linked file once (tree.ts).
 */
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { entryDirs, tempDirs, usageDirs, USAGE_KINDS, type UsageKind } from "./layout";
import { listTemps } from "../process/temp";
import { treeBytes } from "../process/tree";

export interface KindUsage {
  bytes: number;
  /** Whole entries (images, rootfs, models, lockfile, repos) or temporary entries (temp). */
  entries?: number;
  /** temp: how many of them ended processes left (`cache prune` removes those). */
  stale?: number;
}

export interface CacheUsage {
  root: string;
  kinds: Record<UsageKind, KindUsage>;
  total: number;
}

function countEntries(dir: string, entry: RegExp): number {
  try {
    return readdirSync(dir).filter((n) => entry.test(n)).length;
  } catch {
    return 0;
  }
}

export function cacheUsage(rootDir: string, now = Date.now()): CacheUsage {
  const root = resolve(rootDir);
  const seen = new Set<string>();
  const temps = tempDirs(root).flatMap(({ dir, opts }) => listTemps(dir, { ...opts, now }));
  const skip = new Set(temps.map((t) => t.path));
  const kinds = {} as Record<UsageKind, KindUsage>;
  const dirs = usageDirs(root);
  for (const kind of USAGE_KINDS) {
    if (kind === "temp") continue;
    kinds[kind] = { bytes: dirs[kind].reduce((sum, d) => sum + treeBytes(d, seen, skip), 0) };
  }
  for (const e of entryDirs(root)) kinds[e.kind].entries = (kinds[e.kind].entries ?? 0) + countEntries(e.dir, e.entry);
  kinds.temp = {
    bytes: temps.reduce((sum, t) => sum + treeBytes(t.path, seen), 0),
    entries: temps.length,
    stale: temps.filter((t) => t.stale).length,
  };
  return { root, kinds, total: USAGE_KINDS.reduce((sum, k) => sum + kinds[k].bytes, 0) };
}
