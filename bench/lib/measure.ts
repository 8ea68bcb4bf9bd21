/** Running commands, timing them (wall clock, peak RSS) and summarising repeated samples. */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
  /** Peak resident set size in bytes (when measured with /usr/bin/time). */
  maxRss?: number;
  /** User + system CPU milliseconds of the process and its waited-for children (when measured with /usr/bin/time). */
  cpuMs?: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Measure peak RSS with /usr/bin/time (the largest of the process and its waited-for children). */
  rss?: boolean;
  /** Measure CPU time (user + system) with /usr/bin/time. */
  cpu?: boolean;
  /** Kill after this many ms (default 15 min). */
  timeoutMs?: number;
}

export const TIME_BIN = "/usr/bin/time";
export const HAVE_TIME = existsSync(TIME_BIN);

/**
 * The commands `run` started that have not ended. Each leads a process group of its own (spawned detached), so that
 * stopping it also stops what it started: `npm ci`'s node-gyp and compiler, /usr/bin/time's command.
 */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // the group has ended
  }
}

/** Kills every command `run` started that is still running, with all it started (the bench's cleanup on a signal). */
export function stopRunning(): void {
  for (const child of running) killGroup(child);
}

export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  let rssFile: string | undefined;
  let rssDir: string | undefined;
  if ((o.rss || o.cpu) && HAVE_TIME) {
    rssDir = mkdtempSync(join(tmpdir(), "bench-time-"));
    rssFile = join(rssDir, "rss");
    args = ["-f", "%M %U %S", "-o", rssFile, cmd, ...args];
    cmd = TIME_BIN;
  }
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => killGroup(child), o.timeoutMs ?? 900_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on("close", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      clearTimeout(timer);
      running.delete(child);
      let maxRss: number | undefined;
      let cpuMs: number | undefined;
      if (rssFile) {
        // The last line (a failing command's status line comes before it): "KB USER SYS".
        const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(rssFile, "utf8"));
        if (m) {
          if (o.rss) maxRss = Number(m[1]) * 1024;
          if (o.cpu) cpuMs = (Number(m[2]) + Number(m[3])) * 1000;
        }
        rmSync(rssDir!, { recursive: true, force: true });
      }
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms,
        maxRss,
        cpuMs,
      });
    });
  });
}

/** Runs and throws (with its output) unless it exits 0. */
export async function runOk(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, o);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
  samples: number[];
}

export function stat(samples: number[]): Stat {
  if (samples.length === 0) throw new Error("no samples");
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length, samples };
}

/** `n` samples of `sample()`, one after the other. */
export async function samplesOf(n: number, sample: () => Promise<number>): Promise<Stat> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await sample());
  return stat(samples);
}

/**
 * Runs `a` and `b` `reps` times each, interleaved (ABBA order, so drift and caches favour neither), after
 * `warmup` unmeasured rounds. Each function returns its measured value.
 */
export async function sideBySide(
  reps: number,
  warmup: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<{ a: Stat; b: Stat }> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return { a: stat(as), b: stat(bs) };
}

/** `du` of a directory in bytes: disk usage (hard links counted once) or apparent size counting every link. */
export function du(dir: string, mode: "disk" | "apparent-all-links"): number {
  const args = mode === "disk" ? ["-s", "-B1", dir] : ["-s", "-l", "-b", dir];
  const r = spawnSync("du", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`du ${args.join(" ")}: ${r.stderr}`);
  return Number(r.stdout.split(/\s/)[0]);
}

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** User + system CPU milliseconds a running process has used so far (/proc/PID/stat; 0 when it cannot be read). */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime is the
    // 14th field of the line and stime the 15th, in clock ticks (USER_HZ, 100 on Linux).
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;
