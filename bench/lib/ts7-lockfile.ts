/**
 * The TypeScript 7 compiler of the monorepo benchmarks (issue #60 item 5) and the lockfile that brings it into a
 * workspace: TypeScript 7 comes from the checkout's test/compilers/node_modules (scripts/install-deps.sh installs it),
 * packed into `file:` tarballs beside the generated ones (as npm-tree.ts packs @types/node), so that the workspace's
 * `npm ci` needs no network. The lockfile is the fixture's plus `typescript` and every
 * `@typescript/typescript-<platform>` entry as npm wrote them in test/compilers/package-lock.json (this machine's one
 * packed, the others skipped by npm as `optional` with another `os`/`cpu`). The peers of P9 and their lockfile are
 * unchanged.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./bazel";
import { check } from "./context";
import { type NpmTree, pack } from "./npm-tree";

/** The label the TypeScript 7 targets give as their `typescript` (the workspace's npm package). */
export const TS7_LABEL = "@npm//:node_modules/typescript";

const COMPILERS = join(REPO_ROOT, "test", "compilers");
/** The typescript 7 package (installed as `typescript7`, an npm alias: its package.json says "typescript"). */
const TS7_PACKAGE = join(COMPILERS, "node_modules", "typescript7");
/** This machine's native package: `@typescript/typescript-linux-x64` on the bench's machines. */
export const TS7_NATIVE = `@typescript/typescript-${process.platform}-${process.arch}`;
/** The native compiler, as the rules run it (src/tsc/compilers.ts: `<native package>/lib/tsc`). */
export const TSC7 = join(COMPILERS, "node_modules", TS7_NATIVE, "lib", "tsc");

interface Lock {
  packages: Record<string, Record<string, unknown>>;
}

/**
 * `tree`'s package.json and lockfile with typescript 7.0.2 added as a devDependency, written into `dir`; the
 * version's `file:` tarballs packed into `dir/tarballs`.
 */
function writeTs7Lockfile(tree: NpmTree, dir: string): void {
  const compilers = JSON.parse(readFileSync(join(COMPILERS, "package-lock.json"), "utf8")) as Lock;
  const tsEntry = compilers.packages["node_modules/typescript7"];
  check(
    tsEntry?.version === "7.0.2" && existsSync(TSC7),
    `TypeScript 7.0.2 and ${TS7_NATIVE} are in ${COMPILERS} (scripts/install-deps.sh)`,
  );
  const lock = JSON.parse(readFileSync(tree.lockfile, "utf8")) as Lock;
  const pkg = JSON.parse(readFileSync(tree.packageJson, "utf8")) as { devDependencies?: Record<string, string> };
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

const written = new Map<string, NpmTree>();

/** `tree` with typescript 7.0.2 in its package.json and lockfile (written once, in `dir`). */
export function treeTs7(dir: string, tree: NpmTree): NpmTree {
  let t = written.get(dir);
  if (!t) {
    mkdirSync(dir, { recursive: true });
    writeTs7Lockfile(tree, dir);
    t = { ...tree, packageJson: join(dir, "package.json"), lockfile: join(dir, "package-lock.json") };
    written.set(dir, t);
  }
  return t;
}

/** Whether a TsCompile action's inputs are @npm's typescript 7 (its native package), not the rules' 5.9. */
export function compilesWithTs7(inputs: string[]): boolean {
  return (
    inputs.some((p) => new RegExp(`^external/[^/]*npm/node_modules/${TS7_NATIVE}/lib/tsc$`).test(p)) &&
    !inputs.some((p) => /rules_pipeline_npm\/node_modules\/typescript\//.test(p))
  );
}
