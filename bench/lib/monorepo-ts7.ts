/**
 * The monorepo benchmarks' TypeScript 7 sides (issue #60 item 5): the fixture's sources as a second Bazel 4.2.3
 * workspace whose compiler is the workspace's choice, `pipeline_dependencies(typescript =
 * "@npm//:node_modules/typescript")`, with typescript 7.0.2 and its native package in its lockfile; and P10's peer
 * with the same compiler, the native `tsc` run by hand on a copy of the plain npm project. The Bazel 7.7.1 twin of the
 * workspace (`pipeline.config(typescript = ...)`) is bench/lib/monorepo-bazel7.ts monorepo7Ts7, on the same lockfile.
 *
 * TypeScript 7 comes from the checkout's test/compilers/node_modules (scripts/install-deps.sh installs it), packed
 * into `file:` tarballs beside the generated ones (as npm-tree.ts packs @types/node), so that the workspace's `npm ci`
 * needs no network. Its lockfile is the fixture's plus `typescript` and every `@typescript/typescript-<platform>`
 * entry as npm wrote them in test/compilers/package-lock.json (this machine's one packed, the others skipped by npm as
 * `optional` with another `os`/`cpu`). The 5.9 workspace, the peers of P9 and their lockfile are unchanged.
 *
 * The workspace installs the native addon without its install script (`ignore_install_scripts`): only `//x:etl` is
 * built here, which does not load it, and its compile (node-gyp, about a minute) would be the most of this fixture's
 * cold build.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAquery, summarizeProfile } from "./bazel-actions";
import { bazelOk, expunge, REPO_ROOT } from "./bazel";
import { check, type Ctx } from "./context";
import { runOk, stat, type Stat } from "./measure";
import { changeLibrary, PEER_TSCONFIG, type WorkspaceOptions, writeBazelWorkspace } from "./monorepo";
import { bazelLocal, type Mono, PROFILED, pushedDigest, timed } from "./monorepo-sides";
import { type NpmTree, pack } from "./npm-tree";

const COMPILERS = join(REPO_ROOT, "test", "compilers");
/** The typescript 7 package (installed as `typescript7`, an npm alias: its package.json says "typescript"). */
const TS7_PACKAGE = join(COMPILERS, "node_modules", "typescript7");
/** This machine's native package: `@typescript/typescript-linux-x64` on the bench's machines. */
const TS7_NATIVE = `@typescript/typescript-${process.platform}-${process.arch}`;
/** The native compiler, as the rules run it (bazel/private/tsc_compilers.js: `<native package>/lib/tsc`). */
export const TSC7 = join(COMPILERS, "node_modules", TS7_NATIVE, "lib", "tsc");

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

interface Lock {
  packages: Record<string, Record<string, unknown>>;
}

/**
 * The fixture's package.json and lockfile with typescript 7.0.2 added as a devDependency, written into `dir`; the
 * version's `file:` tarballs packed into `dir/tarballs`.
 */
function writeTs7Lockfile(m: Mono, dir: string): void {
  const compilers = JSON.parse(readFileSync(join(COMPILERS, "package-lock.json"), "utf8")) as Lock;
  const tsEntry = compilers.packages["node_modules/typescript7"];
  check(
    tsEntry?.version === "7.0.2" && existsSync(TSC7),
    `TypeScript 7.0.2 and ${TS7_NATIVE} are in ${COMPILERS} (scripts/install-deps.sh)`,
  );
  const lock = JSON.parse(readFileSync(m.tree.lockfile, "utf8")) as Lock;
  const pkg = JSON.parse(readFileSync(m.tree.packageJson, "utf8")) as { devDependencies?: Record<string, string> };
  const packed = (name: string, from: string) => {
    const stage = join(dir, "stage", name);
    cpSync(from, join(stage, "package"), { recursive: true, dereference: true });
    const tgz = join(dir, "tarballs", `${name.replace("/", "__")}-7.0.2.tgz`);
    return { resolved: `file:${tgz}`, integrity: pack(stage, tgz) };
  };
  const { name: _alias, ...entry } = tsEntry;
  lock.packages["node_modules/typescript"] = { ...entry, ...packed("typescript", TS7_PACKAGE) };
  for (const [path, e] of Object.entries(compilers.packages)) {
    if (!path.startsWith("node_modules/@typescript/")) continue;
    const here = path === `node_modules/${TS7_NATIVE}`;
    lock.packages[path] = here ? { ...e, ...packed(TS7_NATIVE, join(COMPILERS, "node_modules", TS7_NATIVE)) } : e;
  }
  const root = lock.packages[""] as { devDependencies?: Record<string, string> };
  (root.devDependencies ??= {}).typescript = "7.0.2";
  (pkg.devDependencies ??= {}).typescript = "7.0.2";
  const sorted = Object.entries(lock.packages).sort(([a], [b]) =>
    a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ ...lock, packages: Object.fromEntries(sorted) }, null, 2) + "\n",
  );
  writeFileSync(join(dir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
}

export interface MonoTs7 {
  /** The fixture with the TypeScript 7 workspace as its `ws` (the same sources, registry and change counter). */
  m: Mono;
  /** Its cold `bazel run //x:etl_push` (the rules' repositories from rules_pipeline's repository cache). */
  cold: { ms: number; processes: string };
}

let shared: Promise<MonoTs7> | undefined;
let ts7Tree: NpmTree | undefined;

/** The fixture's npm tree with typescript 7.0.2 in its lockfile (written once, in `m.dir/ts7`). */
export function treeTs7(m: Mono): NpmTree {
  if (!ts7Tree) {
    const dir = join(m.dir, "ts7");
    mkdirSync(dir, { recursive: true });
    writeTs7Lockfile(m, dir);
    ts7Tree = { ...m.tree, packageJson: join(dir, "package.json"), lockfile: join(dir, "package-lock.json") };
  }
  return ts7Tree;
}

/** The TypeScript 7 workspaces' options: the compiler from `@npm`, the native addon without its install script. */
export function optionsTs7(m: Mono): WorkspaceOptions {
  const addon = m.src.real.nativeAddon;
  return { typescript: "@npm//:node_modules/typescript", ignoreInstallScripts: addon ? [addon.name] : [] };
}

/** Whether a TsCompile action's inputs are @npm's typescript 7 (its native package), not the rules' 5.9. */
export function compilesWithTs7(inputs: string[]): boolean {
  return (
    inputs.some((p) => new RegExp(`^external/[^/]*npm/node_modules/${TS7_NATIVE}/lib/tsc$`).test(p)) &&
    !inputs.some((p) => /rules_pipeline_npm\/node_modules\/typescript\//.test(p))
  );
}

/** The TypeScript 7 workspace of `m`: written, cold-built and pushed once; checked to compile //lib with 7.0.2. */
export function monorepoTs7(ctx: Ctx, m: Mono): Promise<MonoTs7> {
  shared ??= (async () => {
    const ws = join(m.dir, "ts7", "ws");
    writeBazelWorkspace(ws, m.rules, m.reg.host, m.src, treeTs7(m), optionsTs7(m));
    ctx.defer(() => expunge(ws));
    const cold = await bazelOk(ws, ["run", ...PROFILED, "//x:etl_push"]);
    const processes = /INFO: (\d+ process[^\n]*)/.exec(cold.stderr)?.[1] ?? "?";
    pushedDigest(cold.stdout, `${m.reg.host}/mono/etl`);
    ctx.log(`monorepo (TypeScript 7): cold build + push in ${Math.round(cold.ms)} ms (${processes})`);
    // The compile of //lib reads the workspace's typescript 7 and its native package, not the rules' 5.9.
    const q = parseAquery(
      (await bazelOk(ws, ["aquery", "--output=jsonproto", "mnemonic(TsCompile, //lib:lib)"])).stdout,
    );
    check(
      compilesWithTs7(q.flatMap((a) => a.inputs)),
      `monorepo (TypeScript 7): //lib's TsCompile runs @npm's typescript 7 (${TS7_NATIVE}), not the rules' 5.9`,
    );
    const mono = { ...m, ws };
    await bazelLocal(mono);
    return { m: mono, cold: { ms: cold.ms, processes } };
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

/**
 * TsCompile of //lib after a one-line change, from `bazel run --profile` of `//x:etl_local`: `n` runs in each of the
 * 5.9 workspace (the in-process worker) and the TypeScript 7 one (the worker runs the native tsc, incremental),
 * alternating. Milliseconds of the action (Bazel's "action processing" span) per side.
 */
export async function tsCompileOfLib(m59: Mono, m7: Mono, n: number): Promise<{ ts59: Stat; ts7: Stat }> {
  const one = async (mono: Mono, i: number) => {
    const file = join(mono.dir, `tscompile-${mono === m7 ? "7" : "59"}-${i}.profile.json`);
    await bazelLocal(mono, [`--profile=${file}`], PROFILED);
    const lib = summarizeProfile(readFileSync(file, "utf8")).actions.filter((a) =>
      /TypeScript.*\/\/lib:lib\b/.test(a.name),
    );
    check(
      lib.length === 1,
      `TsCompile of //lib ran once in the profiled run (${lib.map((a) => a.name).join(", ") || "none"})`,
    );
    return lib[0].ms;
  };
  const s59: number[] = [];
  const s7: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2) s7.push(await one(m7, i));
    s59.push(await one(m59, i));
    if (!(i % 2)) s7.push(await one(m7, i));
  }
  return { ts59: stat(s59), ts7: stat(s7) };
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
