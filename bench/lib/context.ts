/** What every benchmark gets: mode, repetitions, paths, the inputs, and a place to register cleanups. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { loadavg } from "node:os";
import type { Inputs } from "./inputs";
import { fmtMs, type Row } from "./report";
import { HAVE_TIME, load, type RunOptions, run, sleep, type Stat } from "./measure";

export interface Ctx {
  smoke: boolean;
  /** Measured repetitions per side for the fast benchmarks. */
  reps: number;
  /** Measured repetitions per side for the slow ones (cold pushes, layer builds). */
  slowReps: number;
  work: string;
  /** The CLI users run (CLI below). */
  cli: string;
  /** A skopeo policy accepting anything (so /etc/containers need not exist). */
  policy: string;
  inputs: Inputs;
  log(line: string): void;
  /** Registered cleanups run at the end, even after a failure. */
  defer(fn: () => Promise<void> | void): void;
}

/**
 * The `pipeline` CLI as users run it: one esbuild bundle, as the rules' launchers (`@rules_pipeline//:pipeline_cli`)
 * and the npm package @rules_pipeline/cli carry it (the package's `pipeline.js` runs it, `pipeline-main.js`, with a
 * V8 code cache in the cache root: src/cli/code-cache.ts), with the runtime library beside it (what `build --lockfile`
 * puts into images), built by scripts/pack.js into bench/out/cli/ when a run starts (buildCli). Not the compiled
 * sources, whose start-up loads ~45 modules one by one: nobody runs those.
 */
export const CLI = resolve(__dirname, "..", "..", "cli", "pipeline.js");

/** The environment the CLI runs in here: CI=true, so it never draws terminal progress (src/registry/progress.ts). */
export const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CI: "true" });

export function buildCli(): void {
  const packJs = resolve(__dirname, "..", "..", "..", "..", "scripts", "pack.js");
  const pack: unknown = require(packJs);
  if (
    typeof pack !== "object" ||
    pack === null ||
    !("buildCliWithRuntime" in pack) ||
    typeof pack.buildCliWithRuntime !== "function"
  ) {
    throw new Error(`${packJs} does not export buildCliWithRuntime(stage)`);
  }
  rmSync(dirname(CLI), { recursive: true, force: true });
  mkdirSync(dirname(CLI), { recursive: true });
  pack.buildCliWithRuntime(dirname(CLI));
}

export function writePolicy(work: string): string {
  const p = join(work, "policy.json");
  writeFileSync(p, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  return p;
}

/** The load average when the current suite's rounds began, after `quiet` (empty: it did not wait). */
let roundsLoad = "";

/** The machine's load itself, the 1-minute average, that `quiet` waits for; and how long it waits at most. */
const QUIET_LOAD = 1.0;
const QUIET_MAX_MS = 150_000;

/**
 * Waits until the 1-minute load average is under QUIET_LOAD (at most QUIET_MAX_MS; not in a smoke run): a suite's
 * set-up (an `npm ci`, a cold build) leaves the machine's average high for a minute or two after it ends, and rounds
 * measured then are measured beside its echo. The rows made after it say the load their rounds began at.
 */
export async function quiet(ctx: Ctx): Promise<void> {
  if (ctx.smoke) return;
  const t = Date.now();
  while (loadavg()[0] >= QUIET_LOAD && Date.now() - t < QUIET_MAX_MS) await sleep(2000);
  roundsLoad = load();
  ctx.log(`load average ${roundsLoad} after waiting ${((Date.now() - t) / 1000).toFixed(0)} s for the rounds`);
}

/** Forgets the last suite's `quiet` (run.ts, before each suite). */
export function resetQuiet(): void {
  roundsLoad = "";
}

/** A row stamped with the time and load average (and the load its rounds began at, after `quiet`). */
export function row(r: Row): Row {
  const now = load();
  return {
    ...r,
    at: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    load: roundsLoad ? `${roundsLoad} as its rounds began, ${now} after` : now,
  };
}

/**
 * A timed row stamped like row(): ours against a peer (medians and spread), met when ours / peer ≤ `limit`;
 * informational (target "—") without one.
 */
export function versus(
  r: Pick<Row, "id" | "key" | "what" | "notes"> & { ours: Stat; peer: Stat; limit?: number },
): Row {
  const ratio = r.ours.median / r.peer.median;
  const { limit, ...rest } = r;
  return row({
    ...rest,
    ours: fmtMs(r.ours),
    peer: fmtMs(r.peer),
    ratio,
    target: limit === undefined ? "—" : `≤ ${Number.isInteger(limit) ? limit.toFixed(1) : limit}`,
    met: limit === undefined ? undefined : ratio <= limit,
  });
}

/** A functional check (not a timing): the benchmark fails when it does not hold. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/**
 * A side of `rounds` that runs `node ARGS` (`opts`: cwd, env) and fails the benchmark `id` unless it exits 0 and
 * `ok(stderr)` holds: each call returns its wall milliseconds, and `cpu` collects its CPU time (user + system,
 * /usr/bin/time, when there is one).
 */
export function nodeSide(id: string, args: string[], opts: RunOptions, ok: (stderr: string) => boolean = () => true) {
  const cpu: number[] = [];
  const f = async () => {
    const r = await run(process.execPath, args, { ...opts, cpu: HAVE_TIME });
    check(r.code === 0 && ok(r.stderr), `${id}: node ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    if (r.cpuMs !== undefined) cpu.push(r.cpuMs);
    return r.ms;
  };
  return { f, cpu };
}
