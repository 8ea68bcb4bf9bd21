// @ts-check
/**
 * The compilers a TsCompile action runs (tsc_worker.js): which one the action's `typescript` package is, and how
 * TypeScript 7, which ships no JavaScript compiler API, compiles.
 *
 * - `--typescript DIR` names the typescript package's directory (`compilerAt`): 5.x and 6.x compile in-process through
 *   DIR/lib/typescript.js (tsc_worker.js); 7.x through its native `tsc`, the per-platform package
 *   `@typescript/typescript-<platform>-<arch>` installed beside it as its optional dependency. Any other version, or
 *   a directory that is not the typescript package, is an error naming the version, the label and the range.
 * - A native compile (`compileNative`) runs `tsc -p CONFIG --outDir OUT` and copies the declared outputs (and only
 *   those) from OUT, as the in-process compile writes only them. It runs in a tree of links: in a worker the
 *   target's own, kept between requests and made to hold each request's inputs alone (`syncTree`), so that it sees
 *   what a sandboxed one-shot compile sees and answers the same; one-shot, links to the working directory's entries;
 *   in both with the compile's `node_modules` (`nodeModulesAt`, `linkNodeModules`), under the working directory,
 *   never the system's temporary directory (tsc_tree.js), and named so that tsc sees nothing above it (HIDDEN_CWD
 *   there). The native compiler itself comes only from the package manager's tree that holds typescript
 *   (`nativeTsc`). One-shot, OUT is temporary and the compile starts from nothing. In a worker the compiler keeps its
 *   state as 5.x's and 6.x's program per target does, through what TypeScript 7 ships for it: `tsc --incremental`,
 *   whose `.tsbuildinfo` and OUT stay beside the target's tree (tsc_tree.js); a run that did not end with tsc's own
 *   answer (a signal, a missing output) drops them (the worker differential and fuzzer check that this state
 *   never changes an answer). tsc runs on one thread (`--singleThreaded`), the one CPU Bazel counts for the action,
 *   unless `--threads compiler` (`--@rules_pipeline//bazel:tsc_threads=compiler`) leaves it its default.
 * - `importHint` is the line both kinds of compile add under an import that cannot be found; `moduleFormatProblem`
 *   the error for sources of a `"type": "module"` package compiled to CommonJS, which Node would refuse at run time
 *   (`exports is not defined in ES module scope`).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const { linkNodeModules, oneShotDir, runIn, syncTree, workerTree } = require("./tsc_tree.js");

const SUPPORTED = "TypeScript 5.0 to 7.x";

/**
 * @typedef {{ version: string, dir: string, api?: string, native?: string }} Compiler
 * `api`: the typescript.js to require (5.x, 6.x); `native`: the tsc binary to run (7.x).
 */

/**
 * The compiler of the typescript package at `p` (its directory), checked; a path to a typescript.js is taken as it is.
 * @param {string} p @param {string} label the package's label, for messages
 * @returns {Compiler}
 */
function compilerAt(p, label) {
  // A typescript.js named directly (callers outside Bazel: tests, the bench) is taken as it is.
  if (p.endsWith(".js")) return { version: "", dir: path.dirname(path.dirname(p)), api: p };
  const dir = p;
  /** @type {{ name?: unknown, version?: unknown }} */
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  } catch (e) {
    const why = /** @type {NodeJS.ErrnoException} */ (e).code ?? /** @type {Error} */ (e).message;
    throw new Error(`${label} is not the typescript package: cannot read ${path.join(dir, "package.json")} (${why})`);
  }
  if (pkg.name !== "typescript") {
    throw new Error(`${label} is not the typescript package: its package.json names ${JSON.stringify(pkg.name)}`);
  }
  const version = String(pkg.version);
  const major = Number(version.split(".")[0]);
  if (!(major >= 5 && major <= 7)) {
    throw new Error(`${label} is TypeScript ${version}, which is not supported (supported: ${SUPPORTED})`);
  }
  if (major < 7) return { version, dir, api: path.join(dir, "lib", "typescript.js") };
  return { version, dir, native: nativeTsc(dir, version, label) };
}

/**
 * TypeScript 7's native compiler for this platform: `lib/tsc` of the package `@typescript/typescript-<os>-<arch>`,
 * taken only from the package manager's tree that holds the typescript package (`dependencyDirs`), through the
 * package's path as given and its real path (a rules_js link). Never from a directory above that tree: with an
 * output root, a sandbox base or a workspace under /tmp or /dev/shm, another user of the machine could put a `tsc`
 * there, which every compile would run as the build's user.
 * @param {string} dir @param {string} version @param {string} label
 */
function nativeTsc(dir, version, label) {
  const name = `@typescript/typescript-${process.platform}-${process.arch}`;
  const starts = [dir];
  try {
    starts.push(fs.realpathSync(dir));
  } catch {
    // Only the path as given.
  }
  for (const start of starts) {
    for (const nodeModules of dependencyDirs(start)) {
      const bin = path.join(nodeModules, name, "lib", "tsc");
      if (fs.existsSync(bin)) return bin;
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
 * @param {string} dir
 */
function dependencyDirs(dir) {
  const dirs = [path.join(dir, "node_modules")];
  const up = path.dirname(dir);
  // A package installed under a scoped alias (`@x/typescript`) sits one level deeper.
  const holder = path.basename(up).startsWith("@") ? path.dirname(up) : up;
  if (path.basename(holder) === "node_modules") dirs.push(holder);
  return dirs;
}

/** The package a bare import names (`@scope/pkg` or `pkg`), or undefined for a relative or absolute one. */
function packageOf(/** @type {string} */ spec) {
  if (spec.startsWith(".") || spec.startsWith("/") || spec.startsWith("#")) return undefined;
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * The hint under TS1309/TS1470/TS1479 (a file compiled as CommonJS: under nodenext, mostly a `"type": "module"`
 * package.json the target does not list), an import not found (TS2307, TS2792) or untyped (TS7016); else "".
 * @param {number} code @param {string} message @param {{ label: string, npmRepos: string[], npmLinks: string[] }} o
 */
function importHint(code, message, o) {
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

/**
 * The first of `sources` that Node will load as an ES module because of its package.json (the nearest one says
 * `"type": "module"`), with that package.json, or undefined. `.mts`/`.cts` files say their format themselves. Whether
 * `moduleFormatProblem` can have anything to say, before the effective `module` is known (compileNative asks the
 * native compiler for it only then).
 * @param {string[]} sources the root files, relative to the working directory
 * @param {(p: string) => string | undefined} read a package.json's text if the compile can see it
 * @returns {{ src: string, packageJson: string } | undefined}
 */
function esModuleSource(sources, read) {
  for (const src of sources) {
    if (!/\.tsx?$/.test(src) || src.endsWith(".d.ts")) continue;
    const pkg = nearestPackageJson(path.dirname(src), read);
    if (pkg?.type === "module") return { src, packageJson: pkg.path };
  }
  return undefined;
}

/**
 * The error for sources that Node will load as ES modules (`esModuleSource`) but that are compiled to CommonJS
 * (`module` is `commonjs`...), or "".
 * @param {object} a
 * @param {string} a.module the effective `module` option, lower case
 * @param {string[]} a.sources the root files, relative to the working directory
 * @param {(p: string) => string | undefined} a.read a package.json's text if the compile can see it
 * @param {string} a.label @param {string} a.tsconfig the user's tsconfig, or ""
 */
function moduleFormatProblem({ module, sources, read, label, tsconfig }) {
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
function nearestPackageJson(/** @type {string} */ dir, /** @type {(p: string) => string | undefined} */ read) {
  for (let d = dir; ; d = path.dirname(d)) {
    const p = path.join(d, "package.json");
    const text = read(p);
    if (text !== undefined) {
      try {
        const json = JSON.parse(text);
        return { path: p, type: json && typeof json === "object" ? json.type : undefined };
      } catch {
        return { path: p, type: undefined };
      }
    }
    if (d === "." || d === "" || path.dirname(d) === d) return undefined;
  }
}

/**
 * The compile's `node_modules` at the working directory (the execroot, a sandbox): a view of the deps' node_modules
 * trees `roots` (execroot-relative: `external/npm/node_modules`, rules_js's `bazel-out/…/bin/node_modules`), so that
 * a bare import resolves as Node resolves it, through a package's `exports` too. TypeScript's `paths`, which the rules
 * also write, do not do that under `node16`/`nodenext`/`bundler` (only `node10` probes a mapped directory's
 * package.json), so ES module code could import no npm package. A package is taken from the first root that has it.
 * `path` maps a path under it to the file it stands for; `isRoot` and `entries` answer for the directory itself.
 * @param {string[]} roots @param {(dir: string) => boolean} dirExists
 */
function nodeModulesAt(roots, dirExists) {
  const top = path.resolve("node_modules");
  const abs = roots.map((r) => path.resolve(r));
  /** @type {Map<string, string>} */
  const chosen = new Map();
  const rootOf = (/** @type {string} */ name) => {
    let r = chosen.get(name);
    if (r === undefined) {
      r = abs.find((a) => dirExists(path.join(a, name))) ?? abs[0];
      chosen.set(name, r);
    }
    return r;
  };
  return {
    isRoot: (/** @type {string} */ p) => abs.length > 0 && path.resolve(p) === top,
    path(/** @type {string} */ p) {
      const a = path.resolve(p);
      if (!abs.length || !a.startsWith(top + path.sep)) return a;
      const rest = a.slice(top.length + 1);
      const parts = rest.split(path.sep);
      const name = parts[0].startsWith("@") && parts.length > 1 ? `${parts[0]}${path.sep}${parts[1]}` : parts[0];
      return path.join(rootOf(name), rest);
    },
    entries() {
      const names = new Set();
      for (const a of abs) {
        /** @type {string[]} */
        let list = [];
        try {
          list = fs.readdirSync(a);
        } catch {
          // A root without a directory: nothing from it.
        }
        for (const n of list) if (dirExists(path.join(a, n))) names.add(n);
      }
      return [...names].sort();
    },
  };
}

/** Files TypeScript reads as part of a program (sources, declarations, JavaScript), never a package.json or config. */
const PROGRAM_FILE = /\.(?:[cm]?[tj]sx?)$/;

/**
 * Whether a request's `inputs` (path → digest) differ from the last one's (`before`) only in the contents of program
 * files: the same paths, every digest known, and every changed one a program file's.
 * @param {Map<string, string> | undefined} before @param {Map<string, string>} inputs
 */
function onlyProgramFilesChanged(before, inputs) {
  if (!before || before.size !== inputs.size) return false;
  for (const [p, digest] of inputs) {
    const was = before.get(p);
    if (was === undefined || !digest) return false;
    if (was !== digest && !PROGRAM_FILE.test(p)) return false;
  }
  return true;
}

/**
 * One compile with TypeScript 7's native tsc (see the header).
 * @param {Compiler & { native: string }} compiler
 * @param {{ project: string, label: string, expect: string[], npmRepos: string[], npmLinks: string[], nodeModules: string[],
 *   tsconfig: string, threads: string }} o
 * @param {Map<string, string> | undefined} inputs a worker request's inputs (absolute path → digest), else undefined
 * @returns {{ code: number, output: string }}
 */
function compileNative(compiler, o, inputs) {
  const here = process.cwd();
  const project = path.resolve(o.project);
  const config = JSON.parse(fs.readFileSync(project, "utf8"));
  const outDir = path.resolve(path.dirname(project), config.compilerOptions.outDir);
  const tmp = oneShotDir();
  try {
    // The tree it runs in: a worker's own for the target, made to hold this request's inputs; one-shot, links to the
    // entries of the working directory (already a sandbox, or the execroot). Either with the compile's node_modules.
    let cwd = path.join(tmp, "root");
    let out = path.join(tmp, "out");
    /** The worker's incremental state, dropped unless tsc answered. */
    let state = "";
    const dropState = () => state && fs.rmSync(state, { recursive: true, force: true });
    /** @type {string[]} */
    const incremental = [];
    if (inputs) {
      const tree = workerTree(project);
      syncTree(tree, inputs, here);
      tree.nodeModules = linkNodeModules(tree.root, o.nodeModules, tree.nodeModules);
      cwd = tree.root;
      state = tree.state;
      // tsc --incremental rechecks changed files, but does not look again for an import it could not resolve, nor
      // resolve again when a package.json or a config changed (the worker differential's "add dep" steps): only
      // changed contents of program files keep the state.
      if (!onlyProgramFilesChanged(tree.inputs, inputs)) dropState();
      tree.inputs = new Map(inputs);
      out = path.join(state, "out");
      incremental.push("--incremental", "--tsBuildInfoFile", path.join(state, "tsbuildinfo"));
    } else {
      fs.mkdirSync(cwd);
      for (const entry of fs.readdirSync(here)) fs.symlinkSync(path.join(here, entry), path.join(cwd, entry));
      linkNodeModules(cwd, o.nodeModules, undefined);
    }
    // The project by its path in the tree as tsc names the tree (HIDDEN_CWD); outputs by their real paths.
    const inTree = runIn(cwd);
    const tscArgs = ["-p", path.join(inTree.name, path.relative(here, project)), "--outDir", out, "--pretty", "false"];
    if (o.threads !== "compiler") tscArgs.push("--singleThreaded");
    const read = (/** @type {string} */ p) => {
      try {
        return fs.readFileSync(path.join(cwd, p), "utf8");
      } catch {
        return undefined;
      }
    };
    const sources = config.files.map((/** @type {string} */ f) =>
      path.relative(here, path.resolve(path.dirname(project), f)),
    );
    if (esModuleSource(sources, read)) {
      // Only where a source is in a "type": "module" package: the effective `module`, as the compiler reads it.
      const shown = spawnSync(compiler.native, [...tscArgs, "--showConfig"], {
        ...inTree.options,
        encoding: "utf8",
        maxBuffer: 64 * 2 ** 20,
      });
      let module;
      try {
        module = String(JSON.parse(shown.stdout).compilerOptions.module ?? "").toLowerCase() || undefined;
      } catch {
        module = undefined; // The compile below reports the config's errors.
      }
      const problem =
        module === undefined
          ? ""
          : moduleFormatProblem({ module, sources, read, label: o.label, tsconfig: o.tsconfig });
      if (problem) return { code: 1, output: problem };
    }
    const run = spawnSync(compiler.native, [...tscArgs, ...incremental], {
      ...inTree.options,
      encoding: "utf8",
      maxBuffer: 256 * 2 ** 20,
    });
    // tsc's own answers: 0, 1 (errors, nothing emitted), 2 (errors, outputs emitted). Anything else may have left a
    // half-written .tsbuildinfo.
    if (run.error || run.signal || ![0, 1, 2].includes(run.status ?? -1)) dropState();
    if (run.error)
      return { code: 1, output: `tsc_worker: ${o.label}: running ${compiler.native}: ${run.error.message}\n` };
    let output = "";
    // Paths relative to the working directory, as tsc's own file names are: a message names no temporary tree, and
    // no execroot or sandbox either (tsc follows links: a package's file is named by its real path there).
    let said = `${run.stdout}${run.stderr}`;
    for (const dir of new Set([inTree.name, cwd, here, fs.realpathSync(here)]))
      said = said.split(`${dir}${path.sep}`).join("");
    for (const line of said.split("\n")) {
      if (!line) continue;
      output += `${line}\n`;
      const m = /error TS(\d+): (.*)$/.exec(line);
      if (m) output += importHint(Number(m[1]), m[2], o);
    }
    if (run.status !== 0) {
      if (run.signal) output += `tsc_worker: ${o.label}: ${compiler.native} was stopped by ${run.signal}\n`;
      return { code: 1, output: output || `tsc_worker: ${o.label}: ${compiler.native} exited with ${run.status}\n` };
    }
    for (const p of o.expect) {
      const abs = path.resolve(p);
      const made = path.join(out, path.relative(outDir, abs));
      if (!fs.existsSync(made)) {
        dropState();
        output += `error: ${o.label}: the compiler produced no ${path.relative(here, abs)} (is the source excluded by the tsconfig, or an output name clash?)\n`;
        return { code: 1, output };
      }
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      // Bazel makes the outputs of an earlier run read-only: replace, never write through.
      fs.rmSync(abs, { force: true });
      fs.copyFileSync(made, abs);
    }
    return { code: 0, output };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = {
  compilerAt,
  compileNative,
  esModuleSource,
  importHint,
  moduleFormatProblem,
  nodeModulesAt,
  SUPPORTED,
};
