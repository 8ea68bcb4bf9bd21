/**
 * The monorepo benchmarks' Bazel 7.7.1 sides (issue #43 item 4): the fixture's sources as a bzlmod workspace (README's
 * MODULE.bazel, bench/lib/monorepo.ts writeBzlmodWorkspace) built by Bazel 7.7.1 in scripts/bazel7.sh's chroot, beside
 * the Bazel 4.2.3 workspace of the same run. Made on first use, cold build + push once (as the 4.2.3 fixture does),
 * its server shut down and output base removed at the end.
 *
 * Every command goes through scripts/bazel7.sh (a mount namespace and the chroot per command): its cost is in every
 * sample, and measured alone (`bazel info server_pid` through it, against the warm server) for the notes.
 */
import { join } from "node:path";
import { bazel7, ensureBazel7, shutdown7 } from "../../test/fixtures/bazel7";
import { QUIET } from "./bazel";
import { check, type Ctx } from "./context";
import { stat } from "./measure";
import { parseAquery } from "./bazel-actions";
import { changeLibrary, type WorkspaceOptions, writeBzlmodWorkspace } from "./monorepo";
import { compilesWithTs7, optionsTs7, treeTs7 } from "./monorepo-ts7";
import type { NpmTree } from "./npm-tree";
import { type Mono, PROFILED, type Pushed, pushedDigest } from "./monorepo-sides";

export interface Mono7 {
  ws: string;
  /** The cold `bazel run //x:etl_push` on 7.7.1 (new output base, npm's cache warm). */
  cold: { ms: number; processes: string };
  /** Median milliseconds of `bazel info server_pid` through scripts/bazel7.sh against the warm server. */
  wrapperMs: number;
}

/** `bazel ARGS` on 7.7.1 in `ws`, timed; throws with the last lines on failure. */
async function bazel7Ok(m: Mono, ws: string, args: string[]): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t = process.hrtime.bigint();
  // The fixture's directory (workspace, rules snapshot, generated npm tarballs) and npm's cache are read inside.
  const r = await bazel7(ws, args, { mounts: [m.dir], hostNpmCache: true });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0)
    throw new Error(
      `Bazel 7.7.1 \`bazel ${args.join(" ")}\` in ${ws} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`,
    );
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

let shared: Promise<Mono7> | undefined;
let sharedTs7: Promise<Mono7> | undefined;

/** The Bazel 7.7.1 workspace of `m`, cold-built and pushed once. */
export function monorepo7(ctx: Ctx, m: Mono): Promise<Mono7> {
  shared ??= make(ctx, m, "ws7", "Bazel 7.7.1, bzlmod", m.tree);
  return shared;
}

/**
 * Its TypeScript 7 twin (issue #60 item 5): `pipeline.config(typescript = "@npm//:node_modules/typescript")` and the
 * lockfile of bench/lib/monorepo-ts7.ts, cold-built and pushed once; checked to compile //lib with 7.0.2.
 */
export function monorepo7Ts7(ctx: Ctx, m: Mono): Promise<Mono7> {
  sharedTs7 ??= (async () => {
    const m7 = await make(ctx, m, "ws7-ts7", "Bazel 7.7.1, bzlmod, TypeScript 7", treeTs7(m), optionsTs7(m));
    const q = parseAquery(
      (await bazel7Ok(m, m7.ws, ["aquery", "--output=jsonproto", "mnemonic(TsCompile, //lib:lib)"])).stdout,
    );
    check(
      compilesWithTs7(q.flatMap((a) => a.inputs)),
      "monorepo (Bazel 7.7.1, TypeScript 7): //lib's TsCompile runs @npm's typescript 7, not the rules' 5.9",
    );
    return m7;
  })();
  return sharedTs7;
}

async function make(
  ctx: Ctx,
  m: Mono,
  name: string,
  title: string,
  tree: NpmTree,
  o: WorkspaceOptions = {},
): Promise<Mono7> {
  await ensureBazel7();
  const ws = join(m.dir, name);
  writeBzlmodWorkspace(ws, m.rules, m.reg.host, m.src, tree, o);
  ctx.defer(() => shutdown7(ws, { expunge: true }));
  const cold = await bazel7Ok(m, ws, ["run", ...PROFILED, "//x:etl_push"]);
  const processes = /INFO: (\d+ process[^\n]*)/.exec(cold.stderr)?.[1] ?? "?";
  pushedDigest(cold.stdout, `${m.reg.host}/mono/etl`);
  ctx.log(`monorepo (${title}): cold build + push in ${Math.round(cold.ms)} ms (${processes})`);
  const r = await bazel7Ok(m, ws, ["run", ...QUIET, "//x:etl_local"]);
  check(
    r.stdout.includes("etl computed 60"),
    `monorepo (${title}): //x:etl_local prints what the library computed (${r.stdout.trim().slice(0, 200)})`,
  );
  const wrapper: number[] = [];
  for (let i = 0; i < 3; i++) wrapper.push((await bazel7Ok(m, ws, ["info", "server_pid"])).ms);
  return { ws, cold: { ms: cold.ms, processes }, wrapperMs: stat(wrapper).median };
}

/** One-line change in the 7.7.1 workspace, then `bazel run //x:etl_push` there. */
export async function bazel7Push(m: Mono, m7: Mono7): Promise<Pushed> {
  changeLibrary(m7.ws, m.src, m.next());
  const r = await bazel7Ok(m, m7.ws, ["run", ...QUIET, "//x:etl_push"]);
  return { ms: r.ms, digest: pushedDigest(r.stdout, `${m.reg.host}/mono/etl`) };
}

/** One-line change in the 7.7.1 workspace, then `bazel run //x:etl_local`; checks the program printed the changed value. */
export async function bazel7Local(m: Mono, m7: Mono7): Promise<{ ms: number }> {
  const expected = changeLibrary(m7.ws, m.src, m.next());
  const r = await bazel7Ok(m, m7.ws, ["run", ...QUIET, "//x:etl_local"]);
  check(
    r.stdout.includes(`etl computed ${expected},`),
    `P10 (Bazel 7.7.1): etl_local runs the changed library (expected ${expected}, got ${r.stdout.trim().slice(0, 200)})`,
  );
  return { ms: r.ms };
}
