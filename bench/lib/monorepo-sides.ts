/**
 * The monorepo benchmarks' fixture (P9-P11) and each side of them: a one-line library change turned into a pushed
 * image (Bazel, podman build + push, `pipeline build --lockfile` + push) or a run (Bazel's `_local`, hand-run tsc).
 *
 * Built once per bench run and shared: a registry, the generated npm tree and sources, the Bazel workspace (cold
 * build measured once), and, on first use, the plain npm projects of the peers (npm ci once, copied to each peer)
 * and a private podman holding the host-node base that Bazel built, so every side starts from the same base image.
 * Every side edits its own copy of the sources before its clock starts; the change is `const delta = N;` with N
 * never used before, so each run is a real change and each push a new image.
 *
 * The workspace loads a snapshot of the rules (the checkout's files as git sees them, tracked or not, taken when the
 * fixture is made) rather than the checkout itself: an edit to the checkout's src/ or bazel/ during the run would
 * otherwise rebuild the rules' tools in the middle of a measured change.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { startRegistry, type RunningRegistry } from "../../test/fixtures/registry";
import { bazelOk, expunge, QUIET, REPO_ROOT } from "./bazel";
import { check, CLI, cliEnv, type Ctx } from "./context";
import { runOk } from "./measure";
import {
  changeLibrary,
  monorepoSources,
  type MonorepoSources,
  writeBazelWorkspace,
  writePeerProject,
} from "./monorepo";
import { generateNpmTree, type NpmTree } from "./npm-tree";
import { addRealPackages, lockfileInstallScriptFlags } from "./real-npm";
import { type Podman, podmanWithBase } from "./podman";
import { treeTs7 } from "./ts7-lockfile";

export interface MonoSizes {
  npmFiles: number;
  libFiles: number;
  /** npm packages the library imports (half with bundled types, half with an @types companion). */
  direct: number;
}

export const MONO_FULL: MonoSizes = { npmFiles: 5000, libFiles: 30, direct: 6 };
export const MONO_SMOKE: MonoSizes = { npmFiles: 300, libFiles: 4, direct: 2 };

export interface Mono {
  dir: string;
  ws: string;
  /** The snapshot of the rules the workspace loads (snapshotRules). */
  rules: string;
  src: MonorepoSources;
  tree: NpmTree;
  reg: RunningRegistry;
  /** The host-node base Bazel built (an OCI layout, copied out of the output base). */
  base: string;
  /** That base in the registry (`HOST/mono/host-node:latest`), where the cold peers of P13 fetch it from. */
  baseRef: string;
  /** The fixture's own cold `bazel run //x:etl_push` (new output base, warm npm cache), reported with P9. */
  cold: { ms: number; processes: string };
  /** A number not used for any change yet. */
  next(): number;
  /**
   * The package prefix of the sides' sources and targets in `ws`: "" (//lib, //x:etl_push), or "ts7/" for the
   * TypeScript 7 copy (//ts7/lib, //ts7/x:etl_push; bench/lib/monorepo-ts7.ts).
   */
  pkg: string;
}

/** `//PKGx:etl_push` and the like: `target` ("x:etl_push") in `m`'s package prefix. */
export const label = (m: Pick<Mono, "pkg">, target: string): string => `//${m.pkg}${target}`;

export const PODMAN_BASE_REF = "localhost/host-node:latest";
const PODMAN_IMAGE = "localhost/mono/etl:latest";
export const TSC = require.resolve("typescript/lib/tsc.js");
/** QUIET with Bazel's info lines (for the process summary). */
export const PROFILED = ["--noshow_progress", "--ui_event_filters=-stdout,-stderr", "--show_result=0"];
/**
 * `npm ci` as users run it: npm's cache first (warm in these runs), the registry for what it lacks, install scripts
 * run (the native addon compiles from source).
 */
export const NPM_CI = ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

/** What the rules need of the checkout (no tests, docs, examples or benchmarks). */
const RULES_SKIP = /^(bench|test|docs|examples|scripts|\.ci|node_modules)(\/|$)/;

/** A copy of the rules' files (tracked and untracked, not ignored) in `dest`; the checkout itself if git cannot list them. */
export function snapshotRules(dest: string): string {
  const ls = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (ls.status !== 0) return REPO_ROOT;
  for (const rel of ls.stdout.split("\0")) {
    if (!rel || RULES_SKIP.test(rel) || !existsSync(join(REPO_ROOT, rel))) continue;
    mkdirSync(dirname(join(dest, rel)), { recursive: true });
    copyFileSync(join(REPO_ROOT, rel), join(dest, rel));
  }
  return dest;
}

let shared: Promise<Mono> | undefined;

/** The fixture, made on first use (registry, npm tree, sources, Bazel workspace built once). */
export function monorepo(ctx: Ctx): Promise<Mono> {
  shared ??= (async () => {
    const sizes = ctx.smoke ? MONO_SMOKE : MONO_FULL;
    const dir = join(ctx.work, "mono");
    const reg = await startRegistry();
    ctx.defer(() => reg.stop());
    let t = Date.now();
    const tree = generateNpmTree(join(dir, "npm"), { seed: 20240611, files: sizes.npmFiles, direct: sizes.direct });
    const real = addRealPackages(tree, !ctx.smoke);
    const src = monorepoSources(20240612, sizes.libFiles, tree, real);
    const ws = join(dir, "ws");
    const rules = snapshotRules(join(dir, "rules_pipeline"));
    // The lockfile with TypeScript 7 and its copy of the sources in ts7/: the TypeScript 7 sides' targets
    // (monorepo-ts7.ts), built by this workspace's server.
    writeBazelWorkspace(ws, rules, reg.host, src, treeTs7(join(dir, "ts7-npm"), tree), { ts7Package: true });
    ctx.defer(() => expunge(ws));
    ctx.log(
      `monorepo: ${tree.files} npm files in ${tree.packages.length} packages (${(tree.bytes / 1e6).toFixed(1)} MB generated) and ${real.paths.length} real ones, ${sizes.libFiles} library files, in ${Date.now() - t} ms`,
    );
    t = Date.now();
    // Cold: the fetch (npm ci of the lockfile, the rules' own packages and tools, the host-node base), the build and the push.
    const cold = await bazelOk(ws, ["run", ...PROFILED, "//x:etl_push"]);
    const processes = /INFO: (\d+ process[^\n]*)/.exec(cold.stderr)?.[1] ?? "?";
    pushedDigest(cold.stdout, `${reg.host}/mono/etl`); // checks that the push printed the reference it pushed
    ctx.log(`monorepo: cold build + push in ${Date.now() - t} ms (${processes})`);
    await bazelOk(ws, ["build", ...QUIET, "//x:etl_image", "//x:etl_local", "//x:report_local"]);
    for (const [target, name] of [
      ["//x:etl_local", "etl"],
      ["//x:report_local", "report"],
    ]) {
      const r = await bazelOk(ws, ["run", ...QUIET, target]);
      check(
        r.stdout.includes(`${name} computed 60`),
        `monorepo: ${target} prints what the library computed (${r.stdout.trim().slice(0, 200)})`,
      );
    }
    const outputBase = (await bazelOk(ws, ["info", "output_base"])).stdout.trim();
    const base = join(dir, "host-node-base");
    cpSync(realpathSync(join(outputBase, "external", "pipeline-host-node", "image")), base, {
      recursive: true,
      dereference: true,
    });
    const baseRef = `${reg.host}/mono/host-node:latest`;
    await runOk(
      process.execPath,
      [CLI, "push", base, "--repository", `${reg.host}/mono/host-node`, "--tag", "latest"],
      { env: cliEnv() },
    );
    let counter = 0;
    return {
      dir,
      ws,
      rules,
      src,
      tree,
      reg,
      base,
      baseRef,
      cold: { ms: cold.ms, processes },
      next: () => ++counter,
      pkg: "",
    };
  })();
  return shared;
}

let peersMade: Promise<{ podman: string; lockfile: string; tsc: string; npmCiMs: number }> | undefined;

/** The peers' plain npm projects (npm ci once, from the warm cache; node_modules copied), each compiled once with tsc. */
export function peerProjects(
  ctx: Ctx,
  m: Mono,
): Promise<{ podman: string; lockfile: string; tsc: string; npmCiMs: number }> {
  peersMade ??= (async () => {
    const first = join(m.dir, "peer-podman");
    mkdirSync(first, { recursive: true });
    writePeerProject(first, m.src, m.tree, PODMAN_BASE_REF);
    const npm = await runOk("npm", NPM_CI, { cwd: first });
    const out = {
      podman: first,
      lockfile: join(m.dir, "peer-lockfile"),
      tsc: join(m.dir, "peer-tsc"),
      npmCiMs: npm.ms,
    };
    // Smoke runs compile once and copy dist/ with its .tsbuildinfo (its paths are relative: each copy's next tsc is
    // as incremental); full runs compile each copy.
    if (ctx.smoke) await runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: first });
    for (const d of [out.lockfile, out.tsc]) cpSync(first, d, { recursive: true, verbatimSymlinks: true });
    if (!ctx.smoke)
      for (const d of [out.podman, out.lockfile, out.tsc])
        await runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: d });
    ctx.log(`monorepo: peer projects ready (npm ci ${Math.round(npm.ms)} ms)`);
    return out;
  })();
  return peersMade;
}

/** Milliseconds of a sequence of steps, and of each step (`step(name, fn)`). */
export async function timed(
  steps: (step: (name: string, fn: () => Promise<unknown>) => Promise<void>) => Promise<void>,
): Promise<{ ms: number; parts: Record<string, number> }> {
  const parts: Record<string, number> = {};
  const t = process.hrtime.bigint();
  await steps(async (name, fn) => {
    const s = process.hrtime.bigint();
    await fn();
    parts[name] = (parts[name] ?? 0) + Number(process.hrtime.bigint() - s) / 1e6;
  });
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, parts };
}

export interface Pushed {
  ms: number;
  /** The manifest digest that went up. */
  digest: string;
  /** Milliseconds of each step, for the peers. */
  parts?: Record<string, number>;
}

/** The last digest each workspace's change pushed (changedDigest). */
const lastPushed = new Map<string, string>();

/** The digest in the last line `etl_push` printed (`REPOSITORY@sha256:…`). */
export function pushedDigest(stdout: string, repository: string): string {
  const ref = stdout.trim().split("\n").pop() ?? "";
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
  check(digest !== undefined && ref.startsWith(`${repository}@`), `etl_push prints the pushed reference (${ref})`);
  return digest!;
}

/**
 * pushedDigest of a push after a one-line change in workspace `ws`, checked to differ from the one before it there
 * (every change writes a new value): a sample that pushed the old image measured a build that missed the change.
 */
export function changedDigest(ws: string, stdout: string, repository: string): string {
  const digest = pushedDigest(stdout, repository);
  const before = lastPushed.get(`${ws} ${repository}`);
  check(digest !== before, `a one-line change in ${ws} pushed a new image to ${repository}, not ${digest} again`);
  lastPushed.set(`${ws} ${repository}`, digest);
  return digest;
}

/** One-line change, then `bazel run //x:etl_push` with `flags` (e.g. a strategy). */
export async function bazelPush(m: Mono, flags: string[] = [], quiet = QUIET): Promise<Pushed & { stderr: string }> {
  changeLibrary(join(m.ws, m.pkg), m.src, m.next());
  const r = await bazelOk(m.ws, ["run", ...quiet, ...flags, label(m, "x:etl_push")]);
  return { ms: r.ms, digest: changedDigest(m.ws, r.stdout, `${m.reg.host}/mono/etl`), stderr: r.stderr };
}

/** One-line change, then `bazel run //x:etl_local`; checks the program printed the changed value. */
export async function bazelLocal(
  m: Mono,
  flags: string[] = [],
  quiet = QUIET,
): Promise<{ ms: number; stderr: string }> {
  const expected = changeLibrary(join(m.ws, m.pkg), m.src, m.next());
  const r = await bazelOk(m.ws, ["run", ...quiet, ...flags, label(m, "x:etl_local")]);
  check(
    r.stdout.includes(`etl computed ${expected},`),
    `P10: etl_local runs the changed library (expected ${expected}, got ${r.stdout.trim().slice(0, 200)})`,
  );
  return { ms: r.ms, stderr: r.stderr };
}

/** The podman peer's storage, made on first use: the base loaded from Bazel's host-node layout. */
let podmanMade: Promise<Podman> | undefined;
export function podmanFor(ctx: Ctx, m: Mono): Promise<Podman> {
  podmanMade ??= podmanWithBase(join(m.dir, "podman"), m.base, PODMAN_BASE_REF).then((p) => {
    ctx.defer(() => p.remove());
    return p;
  });
  return podmanMade;
}

/** One-line change, then tsc (incremental), `podman build` (layer cache) and `podman push`. */
export async function podmanPush(m: Mono, p: Podman, dir: string): Promise<Pushed> {
  changeLibrary(dir, m.src, m.next());
  const digestFile = join(m.dir, "podman-digest");
  const t = await timed(async (step) => {
    await step("tsc", () => runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: dir }));
    await step("podman build", () =>
      p.ok(["build", "--network", "none", "--pull=never", "-q", "-t", PODMAN_IMAGE, "."], { cwd: dir }),
    );
    await step("podman push", () =>
      p.ok([
        "push",
        "-q",
        "--tls-verify=false",
        "--digestfile",
        digestFile,
        PODMAN_IMAGE,
        `docker://${m.reg.host}/mono/etl-podman:latest`,
      ]),
    );
  });
  return { ...t, digest: readFileSync(digestFile, "utf8").trim() };
}

/** The last image podman built runs and prints the value of the last change made in `dir`. */
export async function podmanRunCheck(p: Podman, dir: string): Promise<void> {
  const expected = 60 + Number(/const delta = (\d+);/.exec(readFileSync(join(dir, "lib", "mod01.ts"), "utf8"))![1]);
  const r = await p.ok(["run", "--rm", "--network", "none", PODMAN_IMAGE]);
  check(
    r.stdout.includes(`etl computed ${expected},`),
    `P9: the podman-built image runs the changed library (expected ${expected}, got ${r.stdout.trim().slice(0, 200)})`,
  );
}

/** `pipeline build --lockfile` of the project in `dir` (the native addon built from source, as Bazel's route builds it). */
export function lockfileBuild(
  ctx: Ctx,
  m: Mono,
  dir: string,
  out: string,
  base: string,
  cache: string,
): ReturnType<typeof runOk> {
  const args = [
    "build",
    "--lockfile",
    ".",
    "--output",
    out,
    "--base",
    base,
    "--cache-dir",
    cache,
    ...lockfileInstallScriptFlags(m.src.real),
  ];
  return runOk(process.execPath, [ctx.cli, ...args], { cwd: dir, env: cliEnv() });
}

/** One-line change, then tsc (incremental), `pipeline build --lockfile` (node_modules layer cached) and `pipeline push`. */
export async function lockfilePush(ctx: Ctx, m: Mono, dir: string): Promise<Pushed> {
  changeLibrary(dir, m.src, m.next());
  const out = join(m.dir, "lockfile-out", "etl");
  const cache = join(m.dir, "lockfile-cache");
  let digest = "";
  const t = await timed(async (step) => {
    await step("tsc", () => runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: dir }));
    await step("pipeline build", () => lockfileBuild(ctx, m, dir, out, `oci:${m.base}`, cache));
    await step("pipeline push", async () => {
      const push = await runOk(
        process.execPath,
        [ctx.cli, "push", out, "--repository", `${m.reg.host}/mono/etl-lockfile`, "--tag", "latest"],
        {
          env: cliEnv(),
        },
      );
      digest = /@(sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? "";
    });
  });
  check(digest !== "", `P9: pipeline push prints the pushed reference`);
  check(existsSync(join(out, "index.json")), `P9: pipeline build --lockfile wrote ${out}`);
  return { ...t, digest };
}

/** One-line change, then a hand-run incremental tsc and the compiled program (P10's peer); checks what it printed. */
export async function tscAndRun(m: Mono, dir: string): Promise<{ ms: number; parts: Record<string, number> }> {
  const expected = changeLibrary(dir, m.src, m.next());
  let out = "";
  const t = await timed(async (step) => {
    await step("tsc", () => runOk(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: dir }));
    await step("node dist/x/etl.js", async () => {
      out = (await runOk(process.execPath, ["dist/x/etl.js"], { cwd: dir })).stdout;
    });
  });
  check(
    out.includes(`etl computed ${expected},`),
    `P10: the hand-compiled program runs the changed library (expected ${expected}, got ${out.trim().slice(0, 200)})`,
  );
  return t;
}
