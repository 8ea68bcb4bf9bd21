/**
 * The monorepo benchmark's rules_js + pnpm side (issue #40: "the bench's monorepo (P9) also runs as a rules_js + pnpm
 * workspace"): the same sources and npm packages as a workspace a rules_js user has — shared/peers' real rules_js
 * 3.4.1 (`npm_translate_lock` of a pnpm v9 lockfile, `npm_link_all_packages`), our `ts_library` and `pipeline` on
 * `//:node_modules/x` — built by Bazel 7.7.1 with bzlmod in scripts/bazel7.sh's chroot, beside the other sides of the
 * same run. The pnpm lockfile holds the generated tree's packages at the same versions and integrity
 * (bench/lib/pnpm-lock.ts); rules_js fetches the generated `file:` tarballs and the real packages from the registry.
 * Made on first use, cold build + push once, its server shut down and output base removed at the end.
 *
 * The addon pipeline (//x:report, better-sqlite3) is left out: rules_js builds a native addon only through its own
 * lifecycle hooks (`onlyBuiltDependencies`), which this side does not measure; P9 measures //x:etl.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bazel7, ensureBazel7, shutdown7 } from "../../test/fixtures/bazel7";
import { peers } from "../../test/fixtures/peers";
import { check, type Ctx } from "./context";
import { changeLibrary, writeBazelWorkspace } from "./monorepo";
import { changedDigest, type Mono, PROFILED, type Pushed, pushedDigest } from "./monorepo-sides";
import { writePnpmLock } from "./pnpm-lock";
import { QUIET } from "./bazel";

export interface MonoRulesJs {
  ws: string;
  /** The cold `bazel run //x:etl_push` (new output base; rules_js fetches every package). */
  cold: { ms: number; processes: string };
}

/** `bazel ARGS` on 7.7.1 in the rules_js workspace, timed; throws with the last lines on failure. */
export async function run(
  m: Mono,
  ws: string,
  args: string[],
): Promise<{ ms: number; stdout: string; stderr: string }> {
  const t = process.hrtime.bigint();
  // The fixture's directory (workspace, rules snapshot, the generated tarballs the lockfile names) is read inside.
  const r = await bazel7(ws, args, { mounts: [m.dir] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.code !== 0)
    throw new Error(
      `Bazel 7.7.1 (rules_js) \`bazel ${args.join(" ")}\` in ${ws} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`,
    );
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

/** Rewrites `path` in place by `f`, failing when nothing changed (a writer upstream changed its output). */
function rewrite(path: string, f: (text: string) => string): void {
  const before = readFileSync(path, "utf8");
  const after = f(before);
  if (after === before) throw new Error(`monorepo (rules_js): nothing to rewrite in ${path}`);
  writeFileSync(path, after);
}

/** The rules_js + pnpm workspace of `m`'s sources in `ws` (the kit laid out by its setup.sh). */
export async function writeRulesJsWorkspace(m: Mono, ws: string): Promise<void> {
  writeBazelWorkspace(ws, m.rules, m.reg.host, m.src, m.tree);
  for (const f of ["WORKSPACE", "package-lock.json", ".bazelversion"]) rmSync(join(ws, f), { force: true });
  writeFileSync(join(ws, "WORKSPACE.bzlmod"), "");
  writePnpmLock(m.tree.packageJson, m.tree.lockfile, join(ws, "pnpm-lock.yaml"));
  const pkg = JSON.parse(readFileSync(join(ws, "package.json"), "utf8"));
  writeFileSync(
    join(ws, "package.json"),
    `${JSON.stringify({ ...pkg, pnpm: { onlyBuiltDependencies: [] } }, null, 2)}\n`,
  );
  writeFileSync(
    join(ws, "MODULE.bazel"),
    `module(name = "mono_rules_js")

include("//:peers.MODULE.bazel")

bazel_dep(name = "rules_pipeline", version = "0.1.0")
local_path_override(module_name = "rules_pipeline", path = ${JSON.stringify(m.rules)})

pipeline = use_extension("@rules_pipeline//bazel:extensions.bzl", "pipeline")
pipeline.config(tsconfig = "//:tsconfig.json")
use_repo(pipeline, "pipeline-host-node")

npm = use_extension("@aspect_rules_js//npm:extensions.bzl", "npm")
npm.npm_translate_lock(name = "npm", data = ["//:package.json"], pnpm_lock = "//:pnpm-lock.yaml")
use_repo(npm, "npm")
`,
  );
  writeFileSync(
    join(ws, "BUILD.bazel"),
    `load("@npm//:defs.bzl", "npm_link_all_packages")

exports_files(["tsconfig.json", "package.json"])

npm_link_all_packages(name = "node_modules")
`,
  );
  for (const pkgDir of ["util", "lib"])
    rewrite(join(ws, pkgDir, "BUILD.bazel"), (t) => t.replaceAll('"@npm//:node_modules/', '"//:node_modules/'));
  rewrite(join(ws, "x", "BUILD.bazel"), (t) => t.replace(/\npipeline\(\n {4}name = "report",[\s\S]*$/, "\n"));
  await peers("setup.sh", [ws]);
}

let shared: Promise<MonoRulesJs> | undefined;

/** The rules_js workspace of `m`, cold-built and pushed once. */
export function monorepoRulesJs(ctx: Ctx, m: Mono): Promise<MonoRulesJs> {
  shared ??= (async () => {
    await ensureBazel7();
    await peers("tools.sh", []);
    const ws = join(m.dir, "ws-rules-js");
    await writeRulesJsWorkspace(m, ws);
    ctx.defer(() => shutdown7(ws, { expunge: true }));
    const cold = await run(m, ws, ["run", ...PROFILED, "//x:etl_push"]);
    const processes = /INFO: (\d+ process[^\n]*)/.exec(cold.stderr)?.[1] ?? "?";
    pushedDigest(cold.stdout, `${m.reg.host}/mono/etl`);
    ctx.log(`monorepo (rules_js + pnpm, Bazel 7.7.1): cold build + push in ${Math.round(cold.ms)} ms (${processes})`);
    const r = await run(m, ws, ["run", ...QUIET, "//x:etl_local"]);
    check(
      r.stdout.includes("etl computed 60"),
      `monorepo (rules_js + pnpm): //x:etl_local prints what the library computed (${r.stdout.trim().slice(0, 200)})`,
    );
    return { ws, cold: { ms: cold.ms, processes } };
  })();
  return shared;
}

/** One-line change in the rules_js workspace, then `bazel run //x:etl_push` there. */
export async function rulesJsPush(m: Mono, w: MonoRulesJs): Promise<Pushed> {
  changeLibrary(w.ws, m.src, m.next());
  const r = await run(m, w.ws, ["run", ...QUIET, "//x:etl_push"]);
  return { ms: r.ms, digest: changedDigest(w.ws, r.stdout, `${m.reg.host}/mono/etl`) };
}
