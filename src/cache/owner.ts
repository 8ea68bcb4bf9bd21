/**
 * Who owns a temporary entry or a use of a cache entry: a process, named by its pid and its start time.
 *
 * A pid alone is not enough: pids are reused, and a reused pid would keep a dead process's leftovers alive
 * forever. The start time (field 22 of /proc/<pid>/stat, clock ticks since boot) tells the new process from the
 * old one. Where /proc cannot be read (not Linux) the start time is 0 and only the pid is checked.
 */
import { readFileSync } from "node:fs";

export interface Owner {
  pid: number;
  /** Clock ticks after boot when the process started (0: unknown). */
  start: number;
}

/** The start time of `pid` from /proc, or undefined when it has no entry there (gone, or not Linux). */
export function processStart(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses: count after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[19]); // field 22 overall; fields[0] is field 3
  return Number.isInteger(start) && start >= 0 ? start : undefined;
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
 * Whether the owner still runs: its pid exists and, when a start time is known on both sides, started then.
 * `start` undefined: the name carried no start time (an older naming scheme), so the pid is all there is.
 */
export function ownerAlive(pid: number, start?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return start === undefined || start === 0 || start === selfOwner().start;
  const actual = processStart(pid);
  if (actual !== undefined) return start === undefined || start === 0 || actual === start;
  // No readable /proc entry: not Linux, or /proc hides other users' processes. The kernel still knows.
  return pidExists(pid);
}
