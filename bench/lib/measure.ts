/** Running commands, timing them (wall clock, peak RSS) and summarising repeated samples. */
import { spawn, spawnSync } from "node:child_process";
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
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Measure peak RSS with /usr/bin/time (the largest of the process and its waited-for children). */
  rss?: boolean;
  /** Kill after this many ms (default 15 min). */
  timeoutMs?: number;
}

export const TIME_BIN = "/usr/bin/time";
export const HAVE_TIME = existsSync(TIME_BIN);

export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  let rssFile: string | undefined;
  let rssDir: string | undefined;
  if (o.rss && HAVE_TIME) {
    rssDir = mkdtempSync(join(tmpdir(), "bench-time-"));
    rssFile = join(rssDir, "rss");
    args = ["-f", "%M", "-o", rssFile, cmd, ...args];
    cmd = TIME_BIN;
  }
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 900_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      clearTimeout(timer);
      let maxRss: number | undefined;
      if (rssFile) {
        const m = /(\d+)\s*$/.exec(readFileSync(rssFile, "utf8"));
        if (m) maxRss = Number(m[1]) * 1024;
        rmSync(rssDir!, { recursive: true, force: true });
      }
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms,
        maxRss,
      });
    });
  });
}

/** Runs and throws (with its output) unless it exits 0. */
export async function runOk(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
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

/**
 * Runs `a` and `b` `reps` times each, interleaved (ABBA order, so drift and caches favour neither), after
 * `warmup` unmeasured rounds. Each function returns its measured value.
 */
export async function sideBySide(reps: number, warmup: number, a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: Stat; b: Stat }> {
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
