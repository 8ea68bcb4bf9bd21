/**
 * The monorepo benchmarks' TypeScript 7 sides (issue #60 item 5): the fixture's sources compiled by TypeScript 7.0.2,
 * as a user gets it for some targets of a workspace: their own `typescript = "@npm//:node_modules/typescript"`, with
 * typescript 7.0.2 and its native package in the workspace's lockfile (bench/lib/ts7-lockfile.ts). The targets are a
 * copy of //util, //lib and //x:etl in the fixture's own workspace (`//ts7/...`, WorkspaceOptions.ts7Package), so the
 * same Bazel server and fetched repositories serve both compilers; the Bazel 7.7.1 workspace holds the same copy
 * (bench/lib/monorepo-bazel7.ts monorepo7Ts7). And P10's peer with the same compiler: the native `tsc` run by hand
 * on a copy of the plain npm project.
 */
import { spawn } from "node:child_process";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_PHASE, parseAquery, phaseMs, summarizeProfile } from "./bazel-actions";
import { bazelOk } from "./bazel";
import { check, type Ctx } from "./context";
import { runOk, sleep, stat, type Stat } from "./measure";
import { changeLibrary, PEER_TSCONFIG, TS7_PKG } from "./monorepo";
import { bazelLocal, label, type Mono, PROFILED, pushedDigest, timed } from "./monorepo-sides";
import { compilesWithTs7, TS7_NATIVE, TSC7 } from "./ts7-lockfile";

export { TSC7 };

/**
 * The peers' tsconfig for TypeScript 7, which refuses `baseUrl` and `moduleResolution: "node"` (node10): the same
 * options without them, `paths` relative to the tsconfig; TypeScript 7 derives `bundler` resolution from commonjs. Its
 * `types` default is `[]` (6.0 changed it): `["node"]`, as the rules' compile sets it, for `console` and the like.
 */
export const PEER_TSCONFIG_TS7 = (() => {
  const { baseUrl: _b, moduleResolution: _m, paths, ...options } = PEER_TSCONFIG.compilerOptions;
  const relative = Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, v.map((p) => `./${p}`)]));
  return { ...PEER_TSCONFIG, compilerOptions: { ...options, paths: relative, types: ["node"] } };
})();

export interface MonoTs7 {
  /** The fixture with the TypeScript 7 copy as its package (`pkg` "ts7/"; the same workspace, registry and counter). */
  m: Mono;
  /** Its first `bazel run //ts7/x:etl_push` (the workspace's repositories already fetched by the fixture's cold build). */
  first: { ms: number; processes: string };
}

let shared: Promise<MonoTs7> | undefined;

/** The TypeScript 7 targets of `m`'s workspace: built and pushed once; checked to compile //ts7/lib with 7.0.2. */
export function monorepoTs7(ctx: Ctx, m: Mono): Promise<MonoTs7> {
  shared ??= (async () => {
    const mono = { ...m, pkg: `${TS7_PKG}/` };
    const first = await bazelOk(m.ws, ["run", ...PROFILED, label(mono, "x:etl_push")]);
    const processes = /INFO: (\d+ process[^\n]*)/.exec(first.stderr)?.[1] ?? "?";
    pushedDigest(first.stdout, `${m.reg.host}/mono/etl`);
    ctx.log(`monorepo (TypeScript 7): first build + push in ${Math.round(first.ms)} ms (${processes})`);
    // The compile of //ts7/lib reads the workspace's typescript 7 and its native package, not the rules' 5.9.
    const q = parseAquery(
      (await bazelOk(m.ws, ["aquery", "--output=jsonproto", `mnemonic(TsCompile, ${label(mono, "lib:lib")})`])).stdout,
    );
    check(
      compilesWithTs7(q.flatMap((a) => a.inputs)),
      `monorepo (TypeScript 7): ${label(mono, "lib")}'s TsCompile runs @npm's typescript 7 (${TS7_NATIVE}), not the rules' 5.9`,
    );
    await bazelLocal(mono);
    return { m: mono, first: { ms: first.ms, processes } };
  })();
  return shared;
}

let peer: Promise<string> | undefined;

/** A copy of the hand-run tsc peer (`from`) with the TypeScript 7 tsconfig, compiled once by 7. */
export function peerTs7(m: Mono, from: string): Promise<string> {
  peer ??= (async () => {
    const dir = join(m.dir, "peer-tsc7");
    cpSync(from, dir, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(PEER_TSCONFIG_TS7, null, 2) + "\n");
    await runOk(TSC7, ["-p", "tsconfig.json"], { cwd: dir });
    return dir;
  })();
  return peer;
}

/** The pause before each of tsCompileOfLib's changes (tsc's watcher counts 500 ms from its last build). */
export const SETTLE_MS = 600;

/**
 * The worker's own account of its answers (src/tsc/protocol.ts, `--timings`): a worker started with the flag writes a
 * line per answer to its log in the output base (Bazel 4.2.3's profile has no event for a worker's answer).
 */
const TIMINGS = "--worker_extra_flag=TsCompile=--timings";

/** Each workspace's output base, asked once. */
const outputBases = new Map<string, string>();

/** The milliseconds of each answer the TsCompile workers of `ws` logged for `target`, oldest first (per worker log). */
async function answersFor(ws: string, target: string): Promise<number[]> {
  if (!outputBases.has(ws)) outputBases.set(ws, (await bazelOk(ws, ["info", "output_base"])).stdout.trim());
  const dir = join(outputBases.get(ws) ?? "", "bazel-workers");
  const out: number[] = [];
  const line = /^tsc_worker: answered request \d+ \((.*)\) in ([\d.]+) ms$/gm;
  for (const f of readdirSync(dir)
    .filter((n) => n.includes("TsCompile") && n.endsWith(".log"))
    .sort()) {
    for (const m of readFileSync(join(dir, f), "utf8").matchAll(line)) if (m[1] === target) out.push(Number(m[2]));
  }
  return out;
}

export interface TsCompileSamples {
  /** The action's span in Bazel's profile. */
  action: Stat;
  /** The worker's answer, its first byte read to its answer written (its log). */
  worker: Stat;
  /** The action's span less the worker's answer, sample by sample: Bazel's own part of the action. */
  bazel: Stat;
  /** The run's build phase ("Build artifacts" to "Complete build") less the action's span: Bazel's other work. */
  outside: Stat;
}

/**
 * TsCompile of //lib after a one-line change, from `bazel run --profile` of `//x:etl_local`: `n` runs in each of the
 * 5.9 workspace (the in-process worker) and the TypeScript 7 one (the worker answers through its resident compiler),
 * alternating (ABBA), each change made at least SETTLE_MS after the last build ended, as edits between builds are: tsc's
 * watcher waits 50 ms before a build that follows its last within 500 ms, which ABBA's back-to-back pairs would
 * otherwise add to every other TypeScript 7 sample. Milliseconds of the action (Bazel's "action processing" span) and
 * of the worker's answer in it (TIMINGS: a worker of its own, so `warm` changes each first, unmeasured, to warm it).
 */
export async function tsCompileOfLib(
  m59: Mono,
  m7: Mono,
  n: number,
  warm = 2,
): Promise<{ ts59: TsCompileSamples; ts7: TsCompileSamples }> {
  const one = async (mono: Mono, i: number) => {
    const target = label(mono, "lib:lib");
    const before = (await answersFor(mono.ws, target)).length;
    await sleep(SETTLE_MS);
    const file = join(mono.dir, `tscompile-${mono === m7 ? "7" : "59"}-${i}.profile.json`);
    await bazelLocal(mono, [`--profile=${file}`, TIMINGS], PROFILED);
    const profile = summarizeProfile(readFileSync(file, "utf8"));
    const lib = profile.actions.filter((a) => /TypeScript/.test(a.name) && a.name.includes(target));
    check(
      lib.length === 1,
      `TsCompile of //lib ran once in the profiled run (${lib.map((a) => a.name).join(", ") || "none"})`,
    );
    const answers = (await answersFor(mono.ws, target)).slice(before);
    check(
      answers.length === 1,
      `the worker logged one answer for ${target} in the profiled run (${answers.length}: ${answers.join(", ")})`,
    );
    return { action: lib[0].ms, worker: answers[0], build: phaseMs(profile, BUILD_PHASE, file) };
  };
  for (const mono of [m59, m7])
    for (let i = 0; i < warm; i++) {
      await sleep(SETTLE_MS);
      await bazelLocal(mono, [TIMINGS], PROFILED);
    }
  type Sample = { action: number; worker: number; build: number };
  const s59: Sample[] = [];
  const s7: Sample[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2) s7.push(await one(m7, i));
    s59.push(await one(m59, i));
    if (!(i % 2)) s7.push(await one(m7, i));
  }
  const of = (s: Sample[]): TsCompileSamples => ({
    action: stat(s.map((x) => x.action)),
    worker: stat(s.map((x) => x.worker)),
    bazel: stat(s.map((x) => x.action - x.worker)),
    outside: stat(s.map((x) => x.build - x.action)),
  });
  return { ts59: of(s59), ts7: of(s7) };
}

/** One-line change in the TypeScript 7 peer, then the native tsc (incremental) and the program; checks its output. */
export async function tsc7AndRun(m: Mono, dir: string): Promise<{ ms: number; parts: Record<string, number> }> {
  const expected = changeLibrary(dir, m.src, m.next());
  let out = "";
  const t = await timed(async (step) => {
    await step("tsc 7", () => runOk(TSC7, ["-p", "tsconfig.json"], { cwd: dir }));
    await step("node dist/x/etl.js", async () => {
      out = (await runOk(process.execPath, ["dist/x/etl.js"], { cwd: dir })).stdout;
    });
  });
  check(
    out.includes(`etl computed ${expected},`),
    `P10 (TypeScript 7): the hand-compiled program runs the change (expected ${expected}, got ${out.trim().slice(0, 200)})`,
  );
  return t;
}

/** The library's own project in the TypeScript 7 peer: //util and //lib, as //lib's TsCompile sees them. */
const LIB_PROJECT = "tsconfig.lib.json";
/** The same project without `incremental` (no `.tsbuildinfo`): tscWatchLatency's. */
const WATCH_PROJECT = "tsconfig.watch.json";

function writeLibProject(dir: string): void {
  const project = {
    extends: "./tsconfig.json",
    compilerOptions: { outDir: "dist-lib", tsBuildInfoFile: "dist-lib/.tsbuildinfo" },
    include: ["util/**/*.ts", "lib/**/*.ts"],
  };
  writeFileSync(join(dir, LIB_PROJECT), JSON.stringify(project, null, 2) + "\n");
}

/**
 * The floor under a one-shot TypeScript 7 TsCompile of //lib: the native tsc run by hand (no Bazel, no worker, no tree
 * of links) on the peer's //util and //lib after the same one-line change, `--incremental` from its own .tsbuildinfo
 * and `--singleThreaded`, as the worker runs it. `n` samples after one warm-up compile.
 */
export async function tscLibByHand(m: Mono, dir: string, n: number): Promise<Stat> {
  writeLibProject(dir);
  await runOk(TSC7, ["-p", LIB_PROJECT, "--singleThreaded"], { cwd: dir });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    changeLibrary(dir, m.src, m.next());
    samples.push((await runOk(TSC7, ["-p", LIB_PROJECT, "--singleThreaded"], { cwd: dir })).ms);
  }
  return stat(samples);
}

/**
 * What a resident compiler could give (#75 item 1): TypeScript 7's own `tsc --watch` on the same project, without a
 * `.tsbuildinfo` (its fastest rebuild; the worker's resident compiler keeps one to be followed by, src/tsc/resident.ts)
 * and listing the files it writes (`--listEmittedFiles`), from the one-line change to its "Found N errors" line
 * (looked for every millisecond, as the worker does), or undefined when it did not notice the change within `waitMs`
 * (7.0.2 watches no directory within two levels of `/`: a project at /tmp/x never recompiles, and TS_WATCH_DEBUG=1
 * prints "no watchable ancestor"; the bench's projects are deeper). `n` changes, each given `waitMs`, each made
 * SETTLE_MS after the last build ended.
 */
export async function tscWatchLatency(m: Mono, dir: string, n: number, waitMs: number): Promise<number[] | undefined> {
  writeLibProject(dir);
  const project = { extends: `./${LIB_PROJECT}`, compilerOptions: { incremental: false, tsBuildInfoFile: null } };
  writeFileSync(join(dir, WATCH_PROJECT), JSON.stringify(project, null, 2) + "\n");
  const child = spawn(
    TSC7,
    [
      "-p",
      WATCH_PROJECT,
      "--watch",
      "--singleThreaded",
      "--preserveWatchOutput",
      "--pretty",
      "false",
      "--listEmittedFiles",
    ],
    {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let said = "";
  child.stdout.on("data", (d: Buffer) => {
    said += d.toString();
  });
  child.stderr.resume();
  const ended = (from: number) => said.slice(from).match(/Found \d+ errors?\. Watching for file changes/);
  const until = async (from: number, ms: number) => {
    for (const t = performance.now(); performance.now() - t < ms; await sleep(1)) if (ended(from)) return true;
    return false;
  };
  try {
    if (!(await until(0, 60_000)))
      throw new Error(`tsc --watch in ${dir}: no first compile in 60 s: ${said.slice(-500)}`);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      // As tsCompileOfLib's changes: not within 500 ms of the last build (the watcher's debounce).
      await sleep(SETTLE_MS);
      const from = said.length;
      const t = performance.now();
      changeLibrary(dir, m.src, m.next());
      if (!(await until(from, waitMs))) return undefined;
      samples.push(performance.now() - t);
    }
    return samples;
  } finally {
    child.kill("SIGKILL");
  }
}
