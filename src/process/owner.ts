/**
 * Who owns something that must outlive a crash only as long as its owner runs (a temporary cache entry, a lease
 * on one, a git credential dir, a container's bundle): a process, named by its pid and its start time.
 *
 * A pid alone is not enough: pids are reused, and a reused pid would keep a dead process's leftovers alive
 * forever. The start time (field 22 of /proc/<pid>/stat, clock ticks since boot) tells the new process from the
 * old one. Where /proc cannot be read (not Linux) the start time is 0 and only the pid is checked.
 *
 * One rule for "is it alive" (`ownerAlive`), used by the cache, git and the local runner:
 *   - not a positive integer pid: no;
 *   - a /proc entry: a zombie (exited, not yet reaped) is not alive; a start time known on both sides must match;
 *   - no /proc entry: the kernel decides (`kill(pid, 0)`; EPERM means it exists but is someone else's), since
 *     /proc may hide other users' processes (hidepid) and a live owner must never lose what it holds.
 */
import { readFileSync } from "node:fs";

export interface Owner {
  pid: number;
  /** Clock ticks after boot when the process started (0: unknown). */
  start: number;
}

export interface ProcStat {
  /** R, S, D, Z (zombie), T, ... */
  state: string;
  /** Parent process. */
  ppid: number;
  /** Process group. */
  pgrp: number;
  /** Clock ticks after boot when the process started. */
  start: number;
}

/** Fields of /proc/PID/stat, or undefined when there is no such entry (gone, hidden, or not Linux). */
export function procStat(pid: number | "self"): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses: count after the last ")".
  // After "pid (comm) ": field 3 (state) is index 0, field 4 (ppid) index 1, field 5 (pgrp) index 2, field 22
  // (starttime) index 19.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(f[19]);
  const pgrp = Number(f[2]);
  const ppid = Number(f[1]);
  if (!Number.isInteger(start) || start < 0 || !Number.isInteger(pgrp) || !Number.isInteger(ppid)) return undefined;
  return { state: f[0], ppid, pgrp, start };
}

/** The start time of `pid` from /proc, or undefined when it has no entry there. */
export function processStart(pid: number): number | undefined {
  return procStat(pid)?.start;
}

let self: Owner | undefined;

/** This process. */
export function selfOwner(): Owner {
  if (!self || self.pid !== process.pid) self = { pid: process.pid, start: processStart(process.pid) ?? 0 };
  return self;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether the owner still runs (the rule in the file comment). `start` undefined or 0: the name carried no start
 * time (an older naming scheme, or no /proc where it was made), so the pid is all there is.
 */
export function ownerAlive(pid: number, start?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return start === undefined || start === 0 || start === selfOwner().start;
  const st = procStat(pid);
  if (st) return st.state !== "Z" && (start === undefined || start === 0 || st.start === start);
  return pidExists(pid);
}

/** Whether a process with this pid is alive (the same rule, without a start time). */
export function pidAlive(pid: number): boolean {
  return ownerAlive(pid);
}
