/**
 * Real npm packages in the generated monorepo's lockfile, beside the generated ones (npm-tree.ts): ESM-only packages
 * (chalk 5 and nanoid 5, loaded through `require` as Node ≥ 20.19 allows), a large typed package (date-fns 4, ~2,500
 * declaration files) and a native addon (better-sqlite3, compiled from source by node-gyp at install time: no prebuilt
 * binary can be downloaded here). Their lockfile entries come from bench/fixtures/real-npm (the others) and
 * test/fixtures/native-addon (better-sqlite3 and its closure; the e2e tests build the smaller fs-ext instead),
 * so installs resolve the same versions from the npm registry, or from npm's cache when it holds them.
 *
 * Smoke runs take the two ESM-only packages only (small, no compile); full runs take all four.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./bazel";
import type { NpmTree } from "./npm-tree";

type LockEntry = Record<string, unknown> & {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};
interface Lock {
  packages: Record<string, LockEntry>;
}

export interface RealPackages {
  /** ESM-only packages the util library imports. */
  esmOnly: string[];
  /** The large typed package, when present. */
  typed?: string;
  /** The native addon (and its @types companion), when present. */
  nativeAddon?: { name: string; types: string };
  /** Every lockfile path added. */
  paths: string[];
}

const SOURCES = [
  join(REPO_ROOT, "bench", "fixtures", "real-npm", "package-lock.json"),
  join(REPO_ROOT, "test", "fixtures", "native-addon", "package-lock.json"),
];

/** The lockfile paths `roots` need: each root and, recursively, its dependencies (nested copies first, as npm resolves). */
function closure(packages: Record<string, LockEntry>, roots: string[]): string[] {
  const out = new Set<string>();
  const visit = (path: string) => {
    if (out.has(path)) return;
    const e = packages[path];
    if (!e) throw new Error(`real npm packages: no lockfile entry ${path}`);
    out.add(path);
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const nested = `${path}/node_modules/${d}`;
      visit(packages[nested] ? nested : `node_modules/${d}`);
    }
  };
  for (const r of roots) visit(`node_modules/${r}`);
  return [...out];
}

/**
 * Adds the real packages to the tree's package.json and lockfile (in place). A path the generated tree has already
 * stays the generated one when it is `@types/node` or `undici-types` (the checkout's, which satisfy the real packages'
 * `*` ranges); any other clash is an error naming it.
 */
export function addRealPackages(tree: NpmTree, full: boolean): RealPackages {
  const real: Lock = { packages: {} };
  for (const f of SOURCES) Object.assign(real.packages, (JSON.parse(readFileSync(f, "utf8")) as Lock).packages);
  const deps = full ? ["chalk", "nanoid", "date-fns", "better-sqlite3"] : ["chalk", "nanoid"];
  const devDeps = full ? ["@types/better-sqlite3"] : [];
  const lock = JSON.parse(readFileSync(tree.lockfile, "utf8")) as Lock;
  const pkg = JSON.parse(readFileSync(tree.packageJson, "utf8")) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const root = lock.packages[""] as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const added: string[] = [];
  for (const path of closure(real.packages, [...deps, ...devDeps])) {
    if (lock.packages[path]) {
      if (/^node_modules\/(@types\/node|undici-types)$/.test(path)) continue;
      throw new Error(`real npm packages: ${path} is also a generated package (change the tree's seed)`);
    }
    lock.packages[path] = real.packages[path];
    added.push(path);
  }
  const range = (name: string) => `^${real.packages[`node_modules/${name}`].version as string}`;
  for (const [field, names] of [
    ["dependencies", deps],
    ["devDependencies", devDeps],
  ] as const) {
    for (const n of names) {
      (pkg[field] ??= {})[n] = range(n);
      (root[field] ??= {})[n] = range(n);
    }
  }
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)),
  );
  writeFileSync(tree.lockfile, JSON.stringify(lock, null, 2) + "\n");
  writeFileSync(tree.packageJson, JSON.stringify(pkg, null, 2) + "\n");
  return {
    esmOnly: ["chalk", "nanoid"],
    typed: full ? "date-fns" : undefined,
    nativeAddon: full ? { name: "better-sqlite3", types: "@types/better-sqlite3" } : undefined,
    paths: added,
  };
}

/** `pipeline build --lockfile`'s flags for the real packages: the native addon is built from source, as Bazel's route builds it. */
export function lockfileInstallScriptFlags(real: RealPackages): string[] {
  return real.nativeAddon ? ["--allow-install-scripts", real.nativeAddon.name] : [];
}
