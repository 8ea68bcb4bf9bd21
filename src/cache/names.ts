/**
 * The names of what sits beside cache entries (temporary entries are src/process/temp.ts's).
 *
 * The bookkeeping of the entries of a cache directory DIR sits beside it, not in it (a listing of DIR shows entries
 * and temporary entries only), in stateDir(DIR) = <parent>/.cache-state/<name of DIR>:
 *   <NAME>.use-<pid>-<start>   a lease: that process uses entry NAME, prune keeps it (use.ts);
 *   <NAME>.used                its modification time is the entry's last use;
 *   prune.lock                 `pid start` of a prune working on DIR.
 */
import { basename, dirname, join } from "node:path";
import { type Owner, selfOwner } from "../process/owner";

export const PRUNE_LOCK = "prune.lock";

/** Where the leases, last-use stamps and prune lock of the entries of `dir` are kept. */
export function stateDir(dir: string): string {
  return join(dirname(dir), ".cache-state", basename(dir));
}

export function leaseName(name: string, owner: Owner = selfOwner()): string {
  return `${name}.use-${owner.pid}-${owner.start}`;
}

const LEASE = /^(.+)\.use-(\d+)-(\d+)$/;

export function parseLeaseName(name: string): { for: string; owner: Owner } | undefined {
  const m = LEASE.exec(name);
  return m ? { for: m[1], owner: { pid: Number(m[2]), start: Number(m[3]) } } : undefined;
}

export function stampName(name: string): string {
  return `${name}.used`;
}

const STAMP = /^(.+)\.used$/;

export function parseStampName(name: string): string | undefined {
  return STAMP.exec(name)?.[1];
}
