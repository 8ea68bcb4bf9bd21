/**
 * The names of what sits beside cache entries, and the one naming scheme of temporary entries.
 *
 * Everything written next to where it ends up and renamed into place when whole (cache entries, `pull
 * --output`, `model pull --output`, OCI layout blobs) is first written under
 *
 *   .<NAME>.tmp-<pid>-<start>-<8 hex>
 *
 * NAME is the final name (or what the entry is for), pid and start name the owning process (owner.ts), so a
 * sweep can tell a write in progress from what a killed process left, even after the pid was reused. Names
 * of earlier versions are recognised too, as "legacy": they carry a pid at most (`.NAME.tmp-<pid>-<date>`,
 * `NAME.tmp-<pid>-<base36>`, `.tmp-<pid>-<hex>`, `.NAME.work-<pid>-...`, `.NAME.old-<pid>-<date>`) or
 * nothing (mkdtemp's `NAME.tmp-XXXXXX`).
 *
 * The bookkeeping of the entries of a cache directory DIR sits beside it, not in it (a listing of DIR shows entries
 * and temporary entries only), in stateDir(DIR) = <parent>/.cache-state/<name of DIR>:
 *   <NAME>.use-<pid>-<start>   a lease: that process uses entry NAME, prune keeps it (use.ts);
 *   <NAME>.used                its modification time is the entry's last use;
 *   prune.lock                 `pid start` of a prune working on DIR.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Owner, selfOwner } from "../process/owner";

export const PRUNE_LOCK = "prune.lock";

/** Where the leases, last-use stamps and prune lock of the entries of `dir` are kept. */
export function stateDir(dir: string): string {
  return join(dirname(dir), ".cache-state", basename(dir));
}

/** Which entries of a directory are temporary, besides our own temp names (layout.ts's tempDirs, sweep.ts). */
export interface TempRules {
  /** Only temporary entries written for this name (a directory of the user's: DIR's siblings of DIR). */
  only?: string;
  /** Further names that are temporary here, owned by the pid in the pattern's group 1 (e.g. `<pid>-<ms>`). */
  owned?: RegExp;
  /** Further names that are temporary here without an owner (e.g. mkdtemp's `npm-XXXXXX`). */
  ownerless?: RegExp;
}

export interface TempName {
  /** The final name it was written for ("" when the name does not say). */
  for: string;
  /** The owning process; start undefined for legacy names that carry only a pid. */
  owner?: { pid: number; start?: number };
  scheme: "current" | "legacy";
}

/** A fresh temporary name for an entry that will be called `name`, owned by this process. */
export function tempName(name: string, owner: Owner = selfOwner()): string {
  return `.${name}.tmp-${owner.pid}-${owner.start}-${randomBytes(4).toString("hex")}`;
}

/** A fresh temporary sibling of `finalPath`. */
export function tempPath(finalPath: string, owner: Owner = selfOwner()): string {
  return join(dirname(finalPath), tempName(basename(finalPath), owner));
}

/** Creates a fresh temporary sibling directory of `finalPath` (mode 0700, as mkdtemp) and returns its path. */
export function makeTempDirSync(finalPath: string, mode = 0o700): string {
  const path = tempPath(finalPath);
  mkdirSync(path, { mode });
  return path;
}

const CURRENT = /^\.(.+)\.tmp-(\d+)-(\d+)-[0-9a-f]{8}$/;
const LEGACY_WITH_PID = /^\.?(.+)\.(?:tmp|work|old)-(\d+)(?:-[0-9a-z]+)?$/;
const LEGACY_ROOTFS = /^\.tmp-(\d+)-[0-9a-f]{8}$/;
const LEGACY_MKDTEMP = /^\.?(.+)\.tmp-[A-Za-z0-9]{6}$/;

/** What a directory entry's name says about it as a temporary entry; undefined when it is not one. */
export function parseTempName(name: string): TempName | undefined {
  let m = CURRENT.exec(name);
  if (m) return { for: m[1], owner: { pid: Number(m[2]), start: Number(m[3]) }, scheme: "current" };
  if ((m = LEGACY_ROOTFS.exec(name))) return { for: "", owner: { pid: Number(m[1]) }, scheme: "legacy" };
  if ((m = LEGACY_WITH_PID.exec(name))) return { for: m[1], owner: { pid: Number(m[2]) }, scheme: "legacy" };
  if ((m = LEGACY_MKDTEMP.exec(name))) return { for: m[1], scheme: "legacy" };
  return undefined;
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
