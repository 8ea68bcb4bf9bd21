/**
 * `npm run bench`: runs every benchmark side by side with its peer, prints the table and rewrites the
 * generated part of bench/README.md (and bench/results.json).
 *
 *   npm run bench                      full run (about 12 minutes on 2 cores)
 *   npm run bench -- --only P2,P6      only these; their rows replace the stored ones, the others are kept
 *   npm run bench -- --reps 9          measured repetitions per side (fast benchmarks; slow ones get about half)
 *   npm run bench -- --smoke           (or BENCH_SMOKE=1) every benchmark once on tiny inputs: checks that
 *                                      they work, asserts no timing, writes nothing
 *   --keep                             keep the work directory (printed) for inspection
 */
import { runningPushDaemons, stopPushDaemons } from "./lib/push-daemons";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildCli, CLI, type Ctx, resetQuiet, writePolicy } from "./lib/context";
import { FULL_SIZES, Inputs, SMOKE_SIZES } from "./lib/inputs";
import { load, stopRunning } from "./lib/measure";
import { markdownTable, mergeResults, notesList, rewriteReadme, type Row, sortRows } from "./lib/report";
import { p5, p6, p8 } from "./suites/bazel";
import { p4 } from "./suites/layer";
import { p13 } from "./suites/cold-build";
import { p11, p9 } from "./suites/monorepo";
import { p10 } from "./suites/monorepo-p10";
import { p12, p14 } from "./suites/multi-platform";
import { p18 } from "./suites/shallow-base";
import { p19 } from "./suites/map-kubernetes";
import { p1, p2, p3, p7 } from "./suites/registry";
import { p15 } from "./suites/small-image";
import { p17 } from "./suites/one-shot-compile";
import { p16 } from "./suites/startup";
import { p20 } from "./suites/ts7-threads";

const BENCH_DIR = resolve(__dirname, "..", "..");

interface Args {
  smoke: boolean;
  only?: Set<string>;
  reps?: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { smoke: process.env.BENCH_SMOKE === "1" || process.env.BENCH_SMOKE === "true", keep: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const eq = arg.indexOf("=");
      if (eq >= 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--smoke") a.smoke = true;
    else if (arg === "--keep") a.keep = true;
    else if (arg.startsWith("--only")) a.only = new Set(value().toUpperCase().split(",").filter(Boolean));
    else if (arg.startsWith("--reps")) a.reps = Number(value());
    else if (arg === "--help" || arg === "-h") {
      console.log("usage: npm run bench -- [--smoke] [--only P1,P2,...] [--reps N] [--keep]");
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return a;
}

/**
 * The CPU time so far of the test file's cgroup (scripts/test.sh's per-file report, test/fixtures/cpu-per-file.ts)
 * when the bench runs inside one (bench-smoke), for the log: where a smoke run's core-seconds go. Else nothing.
 */
function cgroupCpu(): () => string {
  const root = process.env.PIPELINE_TEST_CPU_CGROUP;
  if (!root) return () => "";
  try {
    const line = readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .find((l) => l.split(":")[1]?.split(",").includes("cpuacct"));
    const file = join(root.slice(0, root.lastIndexOf("/")), line?.split(":")[2] ?? "/", "cpuacct.usage");
    if (!file.startsWith(`${root}/`)) return () => "";
    return () => {
      try {
        return ` cpu ${(Number(readFileSync(file, "utf8")) / 1e9).toFixed(0).padStart(4)}s`;
      } catch {
        return "";
      }
    };
  } catch {
    return () => "";
  }
}

type Bench = (ctx: Ctx) => Promise<Row[]>;
/** In this order: the layer build first (least disturbed), Bazel last. */
const BENCHES: [string, Bench, string][] = [
  ["P4", p4, "layer build vs tar | gzip"],
  ["P1", p1, "incremental push bytes"],
  ["P2", p2, "no-op push"],
  ["P3", p3, "cold push vs skopeo and crane"],
  ["P7", p7, "pull vs skopeo and crane"],
  ["P12", p12, "cold push of a 2-platform index vs skopeo copy --all and crane push"],
  ["P14", p14, "no-op push of a 2-platform index"],
  ["P15", p15, "push and pull of a small image vs skopeo"],
  ["P16", p16, "start-up of the CLI vs node -e 0"],
  ["P17", p17, "one-shot TypeScript compile: from the compiler snapshot vs without, vs tsc -p"],
  ["P5", p5, "reproducible clean builds"],
  ["P6", p6, "warm bazel run: _binary vs _local"],
  ["P8", p8, "disk growth per image sharing a base"],
  ["P11", p11, "monorepo: inputs per action (aquery)"],
  ["P9", p9, "monorepo: one-line library change to a pushed image"],
  ["P10", p10, "monorepo: one-line library change to a local run"],
  ["P13", p13, "monorepo: cold build + push vs podman, buildah and the lockfile route"],
  ["P20", p20, "monorepo: TypeScript 7's threads, one per compile vs the compiler's own"],
  ["P18", p18, "shallow base: an image on a big base by digest vs rules_img 0.3.17 and the materialised base"],
  ["P19", p19, "map on Kubernetes: pipeline map vs a hand-written Indexed Job"],
];
/** The benchmarks that use the generated trees and base image of lib/inputs.ts (the monorepo makes its own). */
const NEEDS_INPUTS = new Set(["P1", "P2", "P3", "P4", "P7", "P8", "P12", "P14", "P15"]);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "rp-bench-"));
  const cpu = cgroupCpu();
  const log = (line: string) =>
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s${cpu()}] ${line}\n`);
  const cleanups: (() => Promise<void> | void)[] = [];
  const daemonsBefore = runningPushDaemons();
  cleanups.push(() => {
    const n = stopPushDaemons(daemonsBefore);
    if (n) log(`stopped ${n} push daemons the run started`);
  });
  const reps = args.reps ?? (args.smoke ? 1 : 7);
  const ctx: Ctx = {
    smoke: args.smoke,
    reps,
    slowReps: args.smoke ? 1 : Math.max(3, Math.ceil(reps / 2)),
    work,
    cli: CLI,
    policy: writePolicy(work),
    inputs: new Inputs(join(work, "inputs"), args.smoke ? SMOKE_SIZES : FULL_SIZES, 20240601),
    log,
    defer: (fn) => cleanups.push(fn),
  };
  const loadBefore = load();
  // Node 20 reads NODE_EXTRA_CA_CERTS at start, building its whole CA store: every Node process pays for it (here
  // `node -e 0` ~55 ms with it, ~20 ms without), the peers written in Go do not.
  const caNote = process.env.NODE_EXTRA_CA_CERTS
    ? "; NODE_EXTRA_CA_CERTS set (each Node process loads its CA store at start)"
    : "";
  log(
    `${args.smoke ? "smoke" : "full"} run in ${work}; load average ${loadBefore}; ${cpus().length} CPUs; node ${process.version}${caNote}`,
  );
  buildCli();
  log(`the CLI users run: ${CLI} (one bundle, scripts/pack.js)`);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    log("interrupted: cleaning up");
    // The command being measured first (an `npm ci` writing into the work directory, a Bazel client...), then the rest.
    stopRunning();
    void cleanup().then(() => process.exit(130));
  };
  const cleanup = async () => {
    // Each one its own (a workspace's output base expunged, a server stopped): all at once, not one after the other
    // (a dozen `bazel clean --expunge` in a row took minutes on a loaded 2-core machine).
    const t = Date.now();
    const done = await Promise.allSettled(cleanups.splice(0).map(async (fn) => fn()));
    for (const d of done) if (d.status === "rejected") log(`cleanup: ${(d.reason as Error).message}`);
    if (done.length)
      log(`cleaned up ${done.length} workspaces and servers in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const rows: Row[] = [];
  const failures: string[] = [];
  try {
    const selected = BENCHES.filter(([id]) => !args.only || args.only.has(id));
    if (selected.some(([id]) => NEEDS_INPUTS.has(id))) await ctx.inputs.prepare(log);
    const runOne = async ([id, fn, title]: (typeof BENCHES)[number]) => {
      if (interrupted) return;
      const t = Date.now();
      resetQuiet();
      log(`${id}: ${title}`);
      try {
        const r = await fn(ctx);
        rows.push(...r);
        for (const x of r) {
          const ratio = x.ratio !== undefined ? `, ratio ${x.ratio.toFixed(2)}` : "";
          log(
            `${id}: ${x.what}: ours ${x.ours}, peer ${x.peer}${ratio} (${((Date.now() - t) / 1000).toFixed(0)} s)${x.notes ? `\n    ${x.notes}` : ""}`,
          );
        }
      } catch (e) {
        const msg = (e as Error).stack ?? String(e);
        failures.push(`${id}: ${msg}`);
        log(`${id} FAILED: ${msg}`);
        rows.push({
          id,
          key: `${id}-failed`,
          what: title,
          ours: "failed",
          peer: "",
          target: "",
          met: false,
          notes: (e as Error).message.split("\n")[0],
        });
      }
    };
    for (const b of selected) await runOne(b);
  } finally {
    await cleanup();
  }
  const loadAfter = load();
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  process.stdout.write("\n" + markdownTable(sortRows(rows), !args.smoke) + "\n");
  if (args.smoke) {
    log(`smoke run ${failures.length ? "FAILED" : "passed"} in ${secs} s (no timing asserted)`);
  } else if (rows.length) {
    const all = mergeResults(join(BENCH_DIR, "results.json"), rows);
    writeFileSync(join(BENCH_DIR, "results.json"), JSON.stringify({ rows: all }, null, 2) + "\n");
    const what = args.only
      ? `Last run, --only ${[...args.only].join(",")} (the other rows are from earlier runs)`
      : "Last full run";
    const stamp = `${what}: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${cpus().length} CPUs, node ${process.version}${caNote}, ${secs} s, load average ${loadBefore} before and ${loadAfter} after (1/5/15 min). Rows carry their own time and load in the notes.`;
    rewriteReadme(join(BENCH_DIR, "README.md"), `${stamp}\n\n${markdownTable(all)}\n${notesList(all)}\n`);
    log(`wrote bench/README.md and bench/results.json (${secs} s)`);
  }
  for (const f of failures) process.stderr.write(`\nFAILED ${f}\n`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
