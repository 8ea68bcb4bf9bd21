/**
 * The monorepo benchmarks' Bazel 7.7.1 sides (issue #43 item 4): the fixture's sources as a bzlmod workspace (README's
 * MODULE.bazel, bench/lib/monorepo.ts writeBzlmodWorkspace) built by Bazel 7.7.1 in scripts/bazel7.sh's chroot, beside
 * the Bazel 4.2.3 workspace of the same run. Made on first use, cold build + push once (as the 4.2.3 fixture does),
 * its server shut down and output base removed at the end.
 *
 * Every command goes through scripts/bazel7.sh (a mount namespace and the chroot per command): its cost is in every
 * sample, and measured alone (`scripts/bazel7.sh probe`: the same namespace, mounts and environment, `true` in place
 * of Bazel) for the notes and for the rows whose ratio leaves it out.
 */
import { join } from "node:path";
import { type Bazel7Options, bazel7, bazel7Probe, ensureBazel7, shutdown7 } from "../../test/fixtures/bazel7";
import { QUIET } from "./bazel";
import { check, type Ctx } from "./context";
import { stat } from "./measure";
import { parseAquery } from "./bazel-actions";
import { changeLibrary, TS7_PKG, writeBzlmodWorkspace } from "./monorepo";
import { changedDigest, label, type Mono, PROFILED, type Pushed, pushedDigest } from "./monorepo-sides";
import { compilesWithTs7, treeTs7 } from "./ts7-lockfile";

export interface Mono7 {
  ws: string;
  /** The package prefix of the side's sources and targets: "" or "ts7/" (Mono.pkg). */
  pkg: string;
  /**
   * The cold `bazel run //x:etl_push` on 7.7.1 (new output base, npm's cache warm); for the TypeScript 7 copy, its first
   * `bazel run //ts7/x:etl_push` in the same workspace.
   */
  cold: { ms: number; processes: string };
  /**
   * Median milliseconds of scripts/bazel7.sh's own work per command (`probe`: `true` in place of Bazel). Not `bazel
   * info` through it: that holds Bazel's client and a round trip to its server too, which every user's command pays.
   */
  wrapperMs: number;
}

/** `bazel ARGS` on 7.7.1 in `ws`, timed; throws with the last lines on failure. */
export async function bazel7Ok(
  m: Mono,
  ws: string,
  args: string[],
): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t = process.hrtime.bigint();
  // The fixture's directory (workspace, rules snapshot, generated npm tarballs) and npm's cache are read inside.
  const r = await bazel7(ws, args, fixtureOptions(m));
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0)
    throw new Error(
      `Bazel 7.7.1 \`bazel ${args.join(" ")}\` in ${ws} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`,
    );
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

/** What every command of the fixture mounts (its directory; npm's cache), so that a probe costs what they do. */
function fixtureOptions(m: Mono): Bazel7Options {
  return { mounts: [m.dir], hostNpmCache: true };
}

/** How many probes the wrapper's cost is the median of. */
const WRAPPER_SAMPLES = 7;

/** Milliseconds of one `scripts/bazel7.sh probe` in `ws`, with the fixture's mounts and environment (bazel7Ok's). */
async function probe7(m: Mono, ws: string): Promise<number> {
  const t = process.hrtime.bigint();
  const r = await bazel7Probe(ws, fixtureOptions(m));
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0) throw new Error(`scripts/bazel7.sh probe ${ws} exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  return ms;
}

let shared: Promise<Mono7> | undefined;
let sharedTs7: Promise<Mono7> | undefined;

/**
 * The Bazel 7.7.1 workspace of `m`, cold-built and pushed once; it also holds the TypeScript 7 copy of the sources
 * (`//ts7/...`, built by monorepo7Ts7), as the 4.2.3 workspace does.
 */
export function monorepo7(ctx: Ctx, m: Mono): Promise<Mono7> {
  shared ??= (async () => {
    await ensureBazel7();
    const ws = join(m.dir, "ws7");
    writeBzlmodWorkspace(ws, m.rules, m.reg.host, m.src, treeTs7(join(m.dir, "ts7-npm"), m.tree), {
      ts7Package: true,
    });
    ctx.defer(() => shutdown7(ws, { expunge: true }));
    return first(ctx, m, { ws, pkg: "", cold: { ms: 0, processes: "" }, wrapperMs: 0 }, "Bazel 7.7.1, bzlmod", true);
  })();
  return shared;
}

/**
 * Its TypeScript 7 targets (issue #60 item 5): `//ts7/...` of the same workspace, whose targets name
 * `typescript = "@npm//:node_modules/typescript"` (bench/lib/ts7-lockfile.ts), built and pushed once; checked to
 * compile //ts7/lib with 7.0.2.
 */
export function monorepo7Ts7(ctx: Ctx, m: Mono): Promise<Mono7> {
  sharedTs7 ??= (async () => {
    const w = await monorepo7(ctx, m);
    const m7 = await first(ctx, m, { ...w, pkg: `${TS7_PKG}/` }, "Bazel 7.7.1, bzlmod, TypeScript 7", false);
    const q = parseAquery(
      (await bazel7Ok(m, m7.ws, ["aquery", "--output=jsonproto", `mnemonic(TsCompile, ${label(m7, "lib:lib")})`]))
        .stdout,
    );
    check(
      compilesWithTs7(q.flatMap((a) => a.inputs)),
      `monorepo (Bazel 7.7.1, TypeScript 7): ${label(m7, "lib")}'s TsCompile runs @npm's typescript 7, not the rules' 5.9`,
    );
    return m7;
  })();
  return sharedTs7;
}

/**
 * The first `bazel run //PKGx:etl_push` of `m7`'s package (the workspace's cold build when it is the first package built)
 * and a run of its etl_local; with `wrapper`, the wrapper's own cost measured (WRAPPER_SAMPLES probes).
 */
async function first(ctx: Ctx, m: Mono, m7: Mono7, title: string, wrapper: boolean): Promise<Mono7> {
  const cold = await bazel7Ok(m, m7.ws, ["run", ...PROFILED, label(m7, "x:etl_push")]);
  const processes = /INFO: (\d+ process[^\n]*)/.exec(cold.stderr)?.[1] ?? "?";
  pushedDigest(cold.stdout, `${m.reg.host}/mono/etl`);
  ctx.log(
    `monorepo (${title}): ${wrapper ? "cold" : "first"} build + push in ${Math.round(cold.ms)} ms (${processes})`,
  );
  const r = await bazel7Ok(m, m7.ws, ["run", ...QUIET, label(m7, "x:etl_local")]);
  check(
    r.stdout.includes("etl computed 60"),
    `monorepo (${title}): ${label(m7, "x:etl_local")} prints what the library computed (${r.stdout.trim().slice(0, 200)})`,
  );
  const samples: number[] = [];
  for (let i = 0; wrapper && i < (ctx.smoke ? 1 : WRAPPER_SAMPLES); i++) samples.push(await probe7(m, m7.ws));
  return { ...m7, cold: { ms: cold.ms, processes }, wrapperMs: wrapper ? stat(samples).median : m7.wrapperMs };
}

/** One-line change in the 7.7.1 workspace, then `bazel run //x:etl_push` there. */
export async function bazel7Push(m: Mono, m7: Mono7): Promise<Pushed> {
  changeLibrary(join(m7.ws, m7.pkg), m.src, m.next());
  const r = await bazel7Ok(m, m7.ws, ["run", ...QUIET, label(m7, "x:etl_push")]);
  return { ms: r.ms, digest: changedDigest(m7.ws, r.stdout, `${m.reg.host}/mono/etl`) };
}

/** One-line change in the 7.7.1 workspace, then `bazel run //x:etl_local`; checks the program printed the changed value. */
export async function bazel7Local(m: Mono, m7: Mono7, flags: string[] = []): Promise<{ ms: number }> {
  const expected = changeLibrary(join(m7.ws, m7.pkg), m.src, m.next());
  const r = await bazel7Ok(m, m7.ws, ["run", ...QUIET, ...flags, label(m7, "x:etl_local")]);
  check(
    r.stdout.includes(`etl computed ${expected},`),
    `P10 (Bazel 7.7.1): etl_local runs the changed library (expected ${expected}, got ${r.stdout.trim().slice(0, 200)})`,
  );
  return { ms: r.ms };
}
