/**
 * Temporary entries, once: the one naming scheme of what is written next to where it ends up and renamed into place
 * when whole (cache entries, `pull --output`, `model pull --output`, OCI layout blobs, rootfs), and the sweep of
 * what ended processes left. A name is
 *
 *   .<NAME>.tmp-<pid>-<start>-<8 hex>
 *
 * NAME is the final name (or what the entry is for), pid and start name the owning process (owner.ts), so a
 * sweep can tell a write in progress from what a killed process left, even after the pid was reused. Names
 * of earlier versions are recognised too, as "legacy": they carry a pid at most (`.NAME.tmp-<pid>-<date>`,
 * `NAME.tmp-<pid>-<base36>`, `.tmp-<pid>-<hex>`, `.NAME.work-<pid>-...`, `.NAME.old-<pid>-<date>`) or
 * nothing (mkdtemp's `NAME.tmp-XXXXXX`).
 *
 * A temporary entry is stale when
 *   - current scheme: its owner (pid + start time) no longer runs;
 *   - legacy name with a pid: that pid no longer runs, or it is older than LEGACY_MAX_AGE_MS (the pid may have
 *     been reused: a legacy name cannot tell), unless it carries the start time too (TempRules.owned);
 *   - legacy name without an owner (mkdtemp's): older than LEGACY_MAX_AGE_MS.
 * A write in progress (its owner runs) is never touched. Every writer sweeps the directory it writes into when it
 * starts (one readdir, no walk); `pipeline pull --output DIR` and `pipeline model pull --output DIR` sweep DIR's own
 * temporary siblings (never anything else in a user's directory); the cache's leases are src/cache/sweep.ts's.
 *
 * A sweep is for what SIGKILL (or a crash) left. A process that is asked to end (SIGINT, SIGTERM, SIGHUP, or an exit
 * while a write is in progress) removes its own temporary entries first: each writer holds its entry (`holdTemp`)
 * while it writes, and the process lifetime hooks (exit.ts, signals.ts) remove what is held before the process ends,
 * by the signal raised again (exit code 128 + its number), as the normal path would have.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type Owner, ownerAlive, selfOwner } from "./owner";
import { untilDone } from "./signals";
import { removeTree, removeTreeSync, treeBytes } from "./tree";

/** Which entries of a directory are temporary, besides our own temp names (src/cache/layout.ts's tempDirs). */
export interface TempRules {
  /** Only temporary entries written for this name (a directory of the user's: DIR's siblings of DIR). */
  only?: string;
  /**
   * Further names that are temporary here (with `only`: written for it), owned by the pid in the pattern's group 1
   * (e.g. `<pid>-<ms>`) and, when the pattern has a group 2, the start time there: then the owner is known as exactly
   * as by a current name, and no age limit applies.
   */
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

/** Temporary entries this process is writing now (holdTemp), removed if it ends before they are renamed into place. */
const held = new Set<string>();
let unhook: (() => void) | undefined;

function removeHeldSync(): void {
  for (const path of held) {
    try {
      removeTreeSync(path);
    } catch {
      // best effort: the process is ending; a later sweep removes what is left
    }
  }
  held.clear();
}

/**
 * Holds the temporary entry at `path` while this process writes it: should the process end first, at exit or by
 * SIGINT/SIGTERM/SIGHUP that no command decides on, the entry is removed (recursively, synchronously) before it
 * ends. Returns the release, to call once the entry is renamed into place or removed (in the writer's `finally`).
 */
export function holdTemp(path: string): () => void {
  held.add(path);
  unhook ??= untilDone(removeHeldSync);
  return () => {
    held.delete(path);
    if (held.size === 0 && unhook) {
      unhook();
      unhook = undefined;
    }
  };
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
  if (m)
    return {
      for: opts.only ?? "",
      owner: { pid: Number(m[1]), start: m[2] === undefined ? undefined : Number(m[2]) },
      scheme: "legacy",
    };
  if (opts.ownerless?.test(name)) return { for: "", scheme: "legacy" };
  return undefined;
}

function isStale(path: string, t: TempName, now: number): boolean {
  if (t.owner && !ownerAlive(t.owner.pid, t.owner.start)) return true;
  if (t.scheme === "current" || t.owner?.start !== undefined) return false;
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

/** Removes the stale temporary entries of `dir`; returns what it removed (or would, dryRun). */
export async function removeStaleTemps(dir: string, opts: SweepOptions = {}): Promise<TempEntry[]> {
  const stale = listTemps(dir, opts).filter((e) => e.stale);
  if (opts.dryRun) return stale;
  for (const e of stale) await removeTree(e.path);
  return stale;
}

/** removeStaleTemps for a writer: never fails the write it precedes (a sweep that cannot remove something retries next time). */
export async function sweepBeforeWrite(dir: string, opts: SweepOptions = {}): Promise<void> {
  try {
    await removeStaleTemps(dir, opts);
  } catch {
    // best effort
  }
}
