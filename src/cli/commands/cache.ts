/**
 * `pipeline cache du [--json]` and `pipeline cache prune [--older-than D] [--max-size S] [--dry-run] [--json]`:
 * the local cache the runner, `model` and `build --lockfile` share (src/cache), found the way the runner finds
 * it (--cache-dir, $PIPELINE_CACHE_DIR, $XDG_CACHE_HOME/rules_pipeline, ~/.cache/rules_pipeline).
 * Without limits, prune removes only what ended processes left (temporary entries, stale leases).
 */
import { relative } from "node:path";
import { cacheRoot, USAGE_KINDS } from "../../cache/layout";
import { pruneCache, type PruneEntry, type PruneReason } from "../../cache/prune";
import { formatBytes, parseDuration, parseSize } from "../../units";
import { cacheUsage } from "../../cache/usage";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { CACHE_DU, CACHE_PRUNE } from "../command-specs";

export type CacheDuArgs = CommandArgs<typeof CACHE_DU>;
export type CachePruneArgs = CommandArgs<typeof CACHE_PRUNE>;

export async function cacheDu(a: CacheDuArgs, io: CliIo): Promise<void> {
  const usage = cacheUsage(cacheRoot(io.env, a["cache-dir"]));
  if (a.json) return io.stdout(JSON.stringify(usage, null, 2));
  io.stdout(`cache ${usage.root}`);
  for (const kind of USAGE_KINDS) {
    const k = usage.kinds[kind];
    let note = "";
    if (kind === "temp")
      note = `  (${k.entries} entr${k.entries === 1 ? "y" : "ies"}, ${k.stale} left by ended processes)`;
    else if (k.entries !== undefined) note = `  (${k.entries} entr${k.entries === 1 ? "y" : "ies"})`;
    io.stdout(`  ${kind.padEnd(16)}${formatBytes(k.bytes).padStart(10)}${note}`);
  }
  io.stdout(`  ${"total".padEnd(16)}${formatBytes(usage.total).padStart(10)}`);
}

const DAY = 86_400_000;

function ago(ms: number): string {
  return ms >= 2 * DAY
    ? `${Math.floor(ms / DAY)} days`
    : ms >= 7_200_000
      ? `${Math.floor(ms / 3_600_000)} hours`
      : `${Math.max(0, Math.floor(ms / 60_000))} minutes`;
}

function why(e: PruneEntry & { reason: PruneReason }, now: number): string {
  if (e.reason === "leftover") return "left by an ended process";
  if (e.reason === "age") return `not used for ${ago(now - e.lastUse)}`;
  return `least recently used (last used ${ago(now - e.lastUse)} ago), over --max-size`;
}

export async function cachePrune(a: CachePruneArgs, io: CliIo): Promise<void> {
  const olderThanMs = a["older-than"] !== undefined ? parseDuration(a["older-than"], "--older-than") : undefined;
  const maxBytes = a["max-size"] !== undefined ? parseSize(a["max-size"], "--max-size") : undefined;
  const now = Date.now();
  const r = await pruneCache(cacheRoot(io.env, a["cache-dir"]), {
    olderThanMs,
    maxBytes,
    dryRun: a["dry-run"] ?? false,
    now,
  });
  const freed = r.removed.reduce((sum, e) => sum + e.bytes, 0);
  if (a.json) return io.stdout(JSON.stringify({ ...r, freedBytes: freed }, null, 2));
  const rel = (p: string) => relative(r.root, p);
  const verb = r.dryRun ? "would remove" : "removed";
  for (const e of r.removed) io.stdout(`${verb} ${e.kind} ${rel(e.path)} (${formatBytes(e.bytes)}): ${why(e, now)}`);
  for (const e of r.inUse)
    io.stdout(
      `kept ${e.kind} ${rel(e.path)} (${formatBytes(e.bytes)}): in use${e.pids?.length ? ` (pid ${e.pids.join(", ")})` : ""}`,
    );
  const n = r.removed.length;
  io.stdout(
    `${r.dryRun ? "would free" : "freed"} ${formatBytes(freed)} (${n} entr${n === 1 ? "y" : "ies"}) in ${r.root}; ${formatBytes(r.keptBytes)} of entries kept`,
  );
}
