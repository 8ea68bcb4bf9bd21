/**
 * The compilers a TsCompile action runs (worker.ts): which one the action's `typescript` package is, and what both
 * kinds of compile share.
 *
 * - `--typescript DIR` names the typescript package's directory (`compilerAt`): 5.x and 6.x compile in-process through
 *   DIR/lib/typescript.js (compile.ts); 7.x through its native `tsc` (native.ts), the per-platform package
 *   `@typescript/typescript-<platform>-<arch>` installed beside it as its optional dependency (`nativeTsc`). Any other
 *   version, or a directory that is not the typescript package, is an error naming the version, the label and the
 *   range.
 * - `nodeModulesAt`: the compile's `node_modules`, a view of the deps' trees (tree.ts `linkNodeModules` is its native
 *   side).
 * - `importHint` is the line both kinds of compile add under an import that cannot be found; `moduleFormatProblem`
 *   the error for sources of a `"type": "module"` package compiled to CommonJS, which Node would refuse at run time
 *   (`exports is not defined in ES module scope`).
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";
import type { NodeModules } from "./inputs";

export const SUPPORTED = "TypeScript 5.0 to 7.x";

/** A compiler: `api`, the typescript.js to require (5.x, 6.x), or `native`, the tsc binary to run (7.x). */
export type Compiler = { version: string; dir: string } & ({ api: string } | { native: string });

/** The error of a package that cannot be read: its code (ENOENT...) or message. */
function why(e: unknown): string {
  if (e instanceof Error) return "code" in e && typeof e.code === "string" ? e.code : e.message;
  return String(e);
}

/**
 * The compiler of the typescript package at `p` (its directory), checked; a path to a typescript.js is taken as it is.
 * @param label the package's label, for messages
 */
export function compilerAt(p: string, label: string): Compiler {
  // A typescript.js named directly (callers outside Bazel: tests, the bench) is taken as it is.
  if (p.endsWith(".js")) return { version: "", dir: dirname(dirname(p)), api: p };
  const dir = p;
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  } catch (e) {
    throw new Error(`${label} is not the typescript package: cannot read ${join(dir, "package.json")} (${why(e)})`);
  }
  const name = typeof pkg === "object" && pkg !== null && "name" in pkg ? pkg.name : undefined;
  if (name !== "typescript") {
    throw new Error(`${label} is not the typescript package: its package.json names ${JSON.stringify(name)}`);
  }
  const version = String(typeof pkg === "object" && pkg !== null && "version" in pkg ? pkg.version : undefined);
  const major = Number(version.split(".")[0]);
  if (!(major >= 5 && major <= 7)) {
    throw new Error(`${label} is TypeScript ${version}, which is not supported (supported: ${SUPPORTED})`);
  }
  if (major < 7) return { version, dir, api: join(dir, "lib", "typescript.js") };
  return { version, dir, native: nativeTsc(dir, version, label) };
}

/**
 * TypeScript 7's native compiler for this platform: `lib/tsc` of the package `@typescript/typescript-<os>-<arch>`,
 * taken only from the package manager's tree that holds the typescript package (`dependencyDirs`), through the
 * package's path as given and its real path (a rules_js link). Never from a directory above that tree: with an
 * output root, a sandbox base or a workspace under /tmp or /dev/shm, another user of the machine could put a `tsc`
 * there, which every compile would run as the build's user.
 */
function nativeTsc(dir: string, version: string, label: string): string {
  const name = `@typescript/typescript-${process.platform}-${process.arch}`;
  const starts = [dir];
  try {
    starts.push(realpathSync(dir));
  } catch {
    // Only the path as given.
  }
  for (const start of starts) {
    for (const nodeModules of dependencyDirs(start)) {
      const bin = join(nodeModules, name, "lib", "tsc");
      if (existsSync(bin)) return bin;
    }
  }
  throw new Error(
    `${label} is TypeScript ${version}, which compiles with its native compiler, the package ${name}: it is not ` +
      `installed beside ${dir}. npm, pnpm and yarn install it as an optional dependency of typescript on this ` +
      `platform: make the lockfile on a machine of this platform (or add "${name}": "${version}" to ` +
      `optionalDependencies) and do not omit optional dependencies`,
  );
}

/**
 * Where a dependency of the package at `dir` is installed: the package's own `node_modules`, and the `node_modules`
 * that holds the package (npm's and yarn's flat tree, `node_modules/typescript` beside `node_modules/@typescript/…`;
 * pnpm's and rules_js's store, `.pnpm/typescript@7.0.2/node_modules/typescript` beside its dependencies' links), the
 * first two directories Node's resolution from the package searches (not the ancestors' above: another user may write
 * some; an npm tree nesting typescript under another package, the native one hoisted, is not found: the error says so).
 */
function dependencyDirs(dir: string): string[] {
  const dirs = [join(dir, "node_modules")];
  const up = dirname(dir);
  // A package installed under a scoped alias (`@x/typescript`) sits one level deeper.
  const holder = basename(up).startsWith("@") ? dirname(up) : up;
  if (basename(holder) === "node_modules") dirs.push(holder);
  return dirs;
}

/** The package a bare import names (`@scope/pkg` or `pkg`), or undefined for a relative or absolute one. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("#")) return undefined;
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** What a hint names: the target, and where its npm packages come from. */
export interface HintContext {
  label: string;
  npmRepos: string[];
  npmLinks: string[];
}

/**
 * The hint under TS1309/TS1470/TS1479 (a file compiled as CommonJS: under nodenext, mostly a `"type": "module"`
 * package.json the target does not list), an import not found (TS2307, TS2792) or untyped (TS7016); else "".
 */
export function importHint(code: number, message: string, o: HintContext): string {
  if (code === 1309 || code === 1470 || code === 1479)
    return `  hint: TypeScript compiles this file as CommonJS: no package.json among the inputs of ${o.label} says "type": "module" for it (a compile sees only what its target lists). If the package.json that governs it does, list that package.json in the target's data: data = ["//:package.json"] for the workspace's (its BUILD file then needs exports_files(["package.json"])), or the package's own package.json in srcs. Or name the file .mts.\n`;
  if (code !== 2307 && code !== 2792 && code !== 7016) return "";
  const m = /['"]([^'"]+)['"]/.exec(message);
  const pkg = m ? packageOf(m[1]) : undefined;
  if (!pkg) return "";
  // `@npm//:node_modules/x` (npm_dependencies), else the linked tree of the deps (rules_js: `//:node_modules/x`).
  const tree = o.npmRepos.length || !o.npmLinks.length ? `@${o.npmRepos[0] ?? "npm"}//:node_modules` : o.npmLinks[0];
  const types = pkg.startsWith("@") ? `@types/${pkg.slice(1).replace("/", "__")}` : `@types/${pkg}`;
  return code === 7016
    ? `  hint: ${JSON.stringify(pkg)} has no types of its own. Add "${tree}/${types}" to the deps of ${o.label}` +
        ` if that package exists; if none does, declare the module in a .d.ts file among its srcs: declare module ${JSON.stringify(pkg)};\n`
    : `  hint: ${o.label} does not depend on ${JSON.stringify(pkg)}. Add "${tree}/${pkg}" to its deps,` +
        ` or the ts_library whose module_name is ${JSON.stringify(pkg)}.\n`;
}

/** `module` values whose output for a .ts file is CommonJS (or another non-ES format) whatever package.json says. */
const NOT_ESM = new Set(["commonjs", "amd", "umd", "system", "none"]);

/** A package.json's text if the compile can see it. */
type ReadVisible = (p: string) => string | undefined;

/**
 * The first of `sources` that Node will load as an ES module because of its package.json (the nearest one says
 * `"type": "module"`), with that package.json, or undefined. `.mts`/`.cts` files say their format themselves. Whether
 * `moduleFormatProblem` can have anything to say, before the effective `module` is known (native.ts asks the
 * native compiler for it only then).
 * @param sources the root files, relative to the working directory
 */
export function esModuleSource(sources: string[], read: ReadVisible): { src: string; packageJson: string } | undefined {
  // A library's sources share directories: each one's package.json is looked for once.
  const near = new Map<string, ReturnType<typeof nearestPackageJson>>();
  for (const src of sources) {
    if (!/\.tsx?$/.test(src) || src.endsWith(".d.ts")) continue;
    const dir = dirname(src);
    if (!near.has(dir)) near.set(dir, nearestPackageJson(dir, read));
    const pkg = near.get(dir);
    if (pkg?.type === "module") return { src, packageJson: pkg.path };
  }
  return undefined;
}

/**
 * The error for sources that Node will load as ES modules (`esModuleSource`) but that are compiled to CommonJS
 * (`module` is `commonjs`...), or "". `module`: the effective `module` option, lower case; `sources`: the root files,
 * relative to the working directory; `tsconfig`: the user's, or "".
 */
export function moduleFormatProblem(a: {
  module: string;
  sources: string[];
  read: ReadVisible;
  label: string;
  tsconfig: string;
}): string {
  const { module, sources, read, label, tsconfig } = a;
  if (!NOT_ESM.has(module)) return "";
  const esm = esModuleSource(sources, read);
  if (!esm) return "";
  const where = tsconfig ? `in ${tsconfig}` : `(the rules' default; ${label} names no tsconfig)`;
  return (
    `error: ${label}: ${esm.packageJson} says "type": "module", so Node loads the JavaScript of ${esm.src} as an ES ` +
    `module, but it is compiled to CommonJS ("module": ${JSON.stringify(module)} ${where}), which fails at run ` +
    `time. Set "module": "nodenext" (ES modules as Node runs them) in ${tsconfig || "the target's tsconfig"}, or ` +
    `name the file .cts to keep it CommonJS (docs/typescript.md)\n`
  );
}

/** The nearest package.json at or above `dir` (relative, up to the working directory) that `read` can see. */
function nearestPackageJson(dir: string, read: ReadVisible): { path: string; type: unknown } | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const p = join(d, "package.json");
    const text = read(p);
    if (text !== undefined) {
      try {
        const json: unknown = JSON.parse(text);
        return { path: p, type: json && typeof json === "object" && "type" in json ? json.type : undefined };
      } catch {
        return { path: p, type: undefined };
      }
    }
    if (d === "." || d === "" || dirname(d) === d) return undefined;
  }
}

/**
 * The compile's `node_modules` at the working directory (the execroot, a sandbox): a view of the deps' node_modules
 * trees `roots` (execroot-relative: `external/npm/node_modules`, rules_js's `bazel-out/…/bin/node_modules`), so that
 * a bare import resolves as Node resolves it, through a package's `exports` too. TypeScript's `paths`, which the rules
 * also write, do not do that under `node16`/`nodenext`/`bundler` (only `node10` probes a mapped directory's
 * package.json), so ES module code could import no npm package. A package is taken from the first root that has it.
 */
export function nodeModulesAt(roots: string[], dirExists: (dir: string) => boolean): NodeModules {
  const top = resolve("node_modules");
  const abs = roots.map((r) => resolve(r));
  const chosen = new Map<string, string>();
  const rootOf = (name: string) => {
    let r = chosen.get(name);
    if (r === undefined) {
      r = abs.find((a) => dirExists(join(a, name))) ?? abs[0];
      chosen.set(name, r);
    }
    return r;
  };
  return {
    isRoot: (p) => abs.length > 0 && resolve(p) === top,
    path(p) {
      const a = resolve(p);
      if (!abs.length || !a.startsWith(top + sep)) return a;
      const rest = a.slice(top.length + 1);
      const parts = rest.split(sep);
      const name = parts[0].startsWith("@") && parts.length > 1 ? `${parts[0]}${sep}${parts[1]}` : parts[0];
      return join(rootOf(name), rest);
    },
    entries() {
      const names = new Set<string>();
      for (const a of abs) {
        let list: string[] = [];
        try {
          list = readdirSync(a);
        } catch {
          // A root without a directory: nothing from it.
        }
        for (const n of list) if (dirExists(join(a, n))) names.add(n);
      }
      return [...names].sort();
    },
  };
}
