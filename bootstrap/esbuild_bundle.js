// @ts-check
/**
 * Bundles rules_pipeline's tools with esbuild at fetch time (bazel/private/repositories/tools_repo.bzl), straight from the
 * TypeScript sources: the `pipeline` CLI the rules' actions and launchers run, the launchers' preload, and the npm
 * packages run-time commands load lazily (the Kubernetes client, the AWS SDK), each one file.
 *
 *   node esbuild_bundle.js @PARAMS   (one argument a line:)
 *   ESBUILD_MAIN_JS NODE_PATH (--bundle ENTRY OUT [--lazy LAZY_OUT RUNTIME] [--external PKG]...)... [--input FILE]...
 *     [--input-dir DIR]...
 *
 * Each `--bundle` writes OUT from ENTRY; the `--external` patterns after it are its own (kept as run-time
 * `require`s). All bundles are built at once (esbuild uses both cores). With `--lazy`, what ENTRY's modules load
 * with `import()` goes to a second file, LAZY_OUT, which the first loads when one of them is first needed: start-up
 * compiles only what the first file holds (`buildSplit` below; RUNTIME is the module that loads LAZY_OUT).
 *
 * Only declared inputs: every `require`/`import` must resolve to one of the `--input` files or a file under an
 * `--input-dir`, be a Node builtin, or match an `--external` pattern. Anything else fails, naming the importer, the
 * request and the file it resolved to. esbuild walks up from the importer for `node_modules`: without this check, a
 * `node_modules` next to the rules' sources (a checkout after `npm ci`) or at a consumer's workspace root would be
 * bundled whenever an optional `require()` finds a package there, and the bundle's bytes would depend on it (issue
 * 18). Optional requires are therefore `external`.
 *
 * Deterministic: no metafile, no source map, no absolute paths. Symlinks are kept as they are (the repository links
 * the sources and the npm tree into its own directory), so esbuild's path comments are relative to the working
 * directory whatever the checkout's or the output base's location; legal comments are kept at the end of the file.
 * `import()` becomes `require()` as tsc's CommonJS output does, so lazily loaded packages are found through
 * NODE_PATH (PIPELINE_TOOLS_NODE_MODULES, tools/pipeline.ts), which Node's ES module loader ignores.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const USAGE =
  "usage: esbuild_bundle.js ESBUILD_MAIN_JS NODE_PATH (--bundle ENTRY OUT [--lazy LAZY_OUT RUNTIME] [--external PKG]...)... [--input FILE]... [--input-dir DIR]... (or @PARAMS_FILE)";

/** @param {string[]} argv */
function parseArgs(argv) {
  if (argv.length === 1 && argv[0].startsWith("@"))
    argv = fs
      .readFileSync(argv[0].slice(1), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  const [esbuildMain, nodePath, ...rest] = argv;
  if (!esbuildMain || !nodePath) throw new Error(USAGE);
  /** @type {{ entry: string, out: string, external: string[], lazy?: { out: string, runtime: string } }[]} */
  const bundles = [];
  /** @type {string[]} */
  const inputs = [];
  /** @type {string[]} */
  const inputDirs = [];
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    const last = bundles[bundles.length - 1];
    if (flag === "--bundle" && value && rest[i + 2]) {
      bundles.push({ entry: value, out: rest[i + 2], external: [] });
      i++;
    } else if (flag === "--lazy" && value && rest[i + 2] && last && !last.lazy) {
      last.lazy = { out: value, runtime: rest[i + 2] };
      i++;
    } else if (flag === "--external" && value && last) last.external.push(value);
    else if (flag === "--input" && value) inputs.push(value);
    else if (flag === "--input-dir" && value) inputDirs.push(value);
    else throw new Error(`esbuild_bundle.js: unexpected argument ${JSON.stringify(flag)}; ${USAGE}`);
  }
  if (bundles.length === 0) throw new Error(USAGE);
  return { esbuildMain, nodePath, bundles, inputs, inputDirs };
}

/** @param {string} p */
function realpath(p) {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const INNER = { declaredInputsOnly: true };
const SPLIT = { split: true };

/** @param {string} request */
function isBarePackage(request) {
  return !(request.startsWith(".") || path.isAbsolute(request));
}

/** Why a request was refused: the importer, the request and the file it resolved to. */
function notDeclared(/** @type {string} */ from, /** @type {string} */ request, /** @type {string} */ real) {
  return `${from}: ${JSON.stringify(request)} resolves to ${real}, which is not a declared input. Add its package to the declared npm tree (bazel/npm/package.json), or make it \`external\` if it is loaded at run time (an optional require).`;
}

/** A bundle read a file that is not a declared input (through a relative or absolute request). */
class UndeclaredInput extends Error {}

/**
 * esbuild.build with the metafile, failing when any file it read is not a declared input: the requests
 * declaredInputsOnly does not see (relative and absolute ones) are checked here, by importer.
 * @param {typeof import("esbuild")} esbuild @param {import("esbuild").BuildOptions} options @param {(real: string) => boolean} declared
 */
async function checkedBuild(esbuild, options, declared) {
  const result = await esbuild.build({ ...options, metafile: true });
  const problems = [];
  for (const [importer, info] of Object.entries(result.metafile.inputs)) {
    for (const imp of /** @type {{ path: string, original?: string, external?: boolean }[]} */ (info.imports)) {
      if (imp.external || imp.path.includes(":")) continue;
      const real = realpath(path.resolve(process.cwd(), imp.path));
      if (!declared(real)) problems.push(notDeclared(importer, imp.original ?? imp.path, real));
    }
  }
  if (problems.length) throw new UndeclaredInput([...new Set(problems)].join("\n"));
  return result;
}

/**
 * An esbuild plugin that lets a bare package request through only when it lands on a declared input.
 *
 * esbuild walks up from the importer for `node_modules`, so one next to the sources (a checkout after `npm ci`) or at
 * a workspace root is met before the declared npm tree (`nodePath`): a package present in both (`yaml`) would resolve
 * to the undeclared copy. A bare package request that lands outside the inputs is therefore resolved again from the
 * declared tree, and only refused if that does not land on an input either.
 * @param {(real: string) => boolean} declared whether a real path is a declared input
 * @param {string} nodePath the declared npm tree's node_modules directory
 * @returns {import("esbuild").Plugin}
 */
function declaredInputsOnly(declared, nodePath) {
  return {
    name: "declared-inputs-only",
    setup(build) {
      // Bare requests only: a relative or absolute one has no other copy to fall back to, and is checked from the
      // metafile after the build (checkedBuild). Sending every request through this callback cost two round trips
      // to esbuild each: bundling @kubernetes/client-node (thousands of relative imports) took 6.7 s instead of 0.75.
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === INNER) return undefined;
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          namespace: args.namespace,
          pluginData: INNER,
        });
        // Not found, a builtin or an `--external` pattern: esbuild's own handling (its message, or a run-time require).
        if (r.errors.length || r.external || r.namespace !== "file" || !r.path) return undefined;
        const real = realpath(r.path);
        if (declared(real)) return undefined;
        if (isBarePackage(args.path)) {
          const d = await build.resolve(args.path, {
            kind: args.kind,
            resolveDir: nodePath,
            namespace: args.namespace,
            pluginData: INNER,
          });
          if (!d.errors.length && d.namespace === "file" && d.path && declared(realpath(d.path)))
            return { path: d.path, sideEffects: d.sideEffects };
        }
        const from = args.importer ? path.relative(process.cwd(), args.importer) : "the entry point";
        return { errors: [{ text: notDeclared(from, args.path, real) }] };
      });
    },
  };
}

/**
 * A bundle in two files: OUT holds what ENTRY loads statically (its first module graph), LAZY_OUT the modules OUT's
 * modules load with `import()` and everything only they import. Each module is in one file only: LAZY_OUT's modules
 * import OUT's (`PipelineError`, the exit hooks) from OUT, so classes and module state are never duplicated.
 *
 *   - Pass 1 bundles ENTRY with every `import()` of a bundled file cut: the modules it reaches are OUT's.
 *   - Pass 2 writes OUT: ENTRY, after handing RUNTIME (`setBundleCore`) a table of OUT's modules, each loaded on first
 *     use; an `import()` of a LAZY_OUT module becomes RUNTIME's `lazyModule(__filename, KEY)`.
 *   - Pass 3 writes LAZY_OUT: `module.exports = (core) => ({ KEY: () => module, ... })`, OUT's modules taken from
 *     `core` (the table).
 * KEYs are paths relative to the working directory, as esbuild's path comments are: the same bytes wherever the
 * checkout or the output base is.
 * @param {typeof import("esbuild")} esbuild the esbuild module
 * @param {import("esbuild").BuildOptions & { outfile: string, entryPoints: string[], plugins: import("esbuild").Plugin[] }} options
 * @param {string} lazyOut
 * @param {string} runtime
 * @param {(real: string) => boolean} declared whether a real path is a declared input
 */
async function buildSplit(esbuild, options, lazyOut, runtime, declared) {
  const cwd = process.cwd();
  const key = (/** @type {string} */ p) => path.relative(cwd, p).split(path.sep).join("/");
  const abs = (/** @type {string} */ k) => JSON.stringify(path.resolve(cwd, k));
  /** @type {Set<string>} */
  const lazy = new Set();
  /** @type {import("esbuild").Plugin} */
  const cut = {
    name: "split-core",
    setup(build) {
      build.onResolve({ filter: /^rp-split:entry$/ }, () => ({ path: "entry", namespace: "rp-split" }));
      build.onResolve({ filter: /.*/ }, async (args) => {
        // pluginData: a resolution a plugin asked for (this one's, or declaredInputsOnly's), not an import.
        if (args.kind !== "dynamic-import" || args.pluginData !== undefined) return undefined;
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: SPLIT,
        });
        if (r.errors.length || r.external || r.namespace !== "file") return undefined;
        lazy.add(key(r.path));
        return { path: key(r.path), namespace: "rp-lazy" };
      });
      // A module the first file holds anyway (also imported statically) is not loaded from the second.
      build.onLoad({ filter: /.*/, namespace: "rp-lazy" }, (args) => ({
        contents: core.has(args.path)
          ? `module.exports = require(${abs(args.path)});\n`
          : `module.exports = require(${abs(runtime)}).lazyModule(__filename, ${JSON.stringify(args.path)});\n`,
        resolveDir: cwd,
        loader: "js",
      }));
      build.onLoad({ filter: /^entry$/, namespace: "rp-split" }, () => ({
        contents: [
          `require(${abs(runtime)}).setBundleCore({`,
          ...[...core].sort().map((k) => `  ${JSON.stringify(k)}: () => require(${abs(k)}),`),
          "});",
          `require(${abs(key(path.resolve(options.entryPoints[0])))});`,
          "",
        ].join("\n"),
        resolveDir: cwd,
        loader: "js",
      }));
    },
  };
  /** @type {Set<string>} */
  const core = new Set();
  const first = await checkedBuild(esbuild, { ...options, write: false, plugins: [cut, ...options.plugins] }, declared);
  for (const input of Object.keys(first.metafile.inputs))
    if (!input.includes(":")) core.add(key(path.resolve(cwd, input)));
  if (!core.has(key(path.resolve(runtime))))
    throw new Error(
      `esbuild_bundle.js: --lazy: ${options.entryPoints[0]} does not import the runtime module ${runtime}`,
    );
  await checkedBuild(
    esbuild,
    { ...options, entryPoints: ["rp-split:entry"], plugins: [cut, ...options.plugins] },
    declared,
  );

  /** @type {import("esbuild").Plugin} */
  const fromCore = {
    name: "split-lazy",
    setup(build) {
      build.onResolve({ filter: /^rp-split:(lazy|table)$/ }, (args) => ({
        path: args.path.slice(9),
        namespace: "rp-split",
      }));
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData !== undefined || args.namespace === "rp-split") return undefined;
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: SPLIT,
        });
        if (r.errors.length || r.external || r.namespace !== "file" || !core.has(key(r.path))) return undefined;
        return { path: key(r.path), namespace: "rp-core" };
      });
      build.onLoad({ filter: /.*/, namespace: "rp-core" }, (args) => ({
        contents: `module.exports = require("rp-split:table").core[${JSON.stringify(args.path)}]();\n`,
        resolveDir: cwd,
        loader: "js",
      }));
      build.onLoad({ filter: /^table$/, namespace: "rp-split" }, () => ({
        contents: "module.exports = {};\n",
        loader: "js",
      }));
      build.onLoad({ filter: /^lazy$/, namespace: "rp-split" }, () => ({
        contents: [
          'const table = require("rp-split:table");',
          "module.exports = (core) => {",
          "  table.core = core;",
          "  return {",
          ...[...lazy]
            .filter((k) => !core.has(k))
            .sort()
            .map((k) => `    ${JSON.stringify(k)}: () => require(${abs(k)}),`),
          "  };",
          "};",
          "",
        ].join("\n"),
        resolveDir: cwd,
        loader: "js",
      }));
    },
  };
  await checkedBuild(
    esbuild,
    { ...options, entryPoints: ["rp-split:lazy"], outfile: lazyOut, plugins: [fromCore, ...options.plugins] },
    declared,
  );
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const files = new Set([...o.inputs, ...o.bundles.map((b) => b.entry)].map(realpath));
  const dirs = o.inputDirs.map((d) => realpath(d) + path.sep);
  const declared = (/** @type {string} */ real) => files.has(real) || dirs.some((d) => real.startsWith(d));
  const nodePath = path.resolve(o.nodePath);
  /** @type {typeof import("esbuild")} the pinned esbuild of the tools' lockfile (bazel/npm_tools), loaded from its path */
  const esbuild = require(path.resolve(o.esbuildMain));
  const results = await Promise.allSettled(
    o.bundles.map((b) => {
      /** @type {import("esbuild").BuildOptions & { outfile: string, entryPoints: string[], plugins: import("esbuild").Plugin[] }} */
      const options = {
        entryPoints: [b.entry],
        outfile: b.out,
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node20",
        external: b.external,
        nodePaths: [nodePath],
        preserveSymlinks: true,
        absWorkingDir: process.cwd(),
        // `import()` → `require()`, as tsc's CommonJS output (see above).
        supported: { "dynamic-import": false },
        legalComments: "eof",
        logLevel: "warning",
        // Keep `require.main === module` checks and stack traces readable.
        keepNames: true,
        plugins: [declaredInputsOnly(declared, nodePath)],
      };
      return b.lazy
        ? buildSplit(esbuild, options, b.lazy.out, b.lazy.runtime, declared)
        : checkedBuild(esbuild, options, declared);
    }),
  );
  // esbuild has printed its own errors (logLevel "warning"); an undeclared input found in the metafile is printed here.
  // A failed bundle leaves no output behind (the check runs after esbuild wrote it).
  results.forEach((r, i) => {
    if (r.status === "fulfilled") return;
    process.exitCode = 1;
    if (r.reason instanceof UndeclaredInput) process.stderr.write(`esbuild_bundle.js: ${r.reason.message}\n`);
    else if (!(r.reason && Array.isArray(r.reason.errors)))
      process.stderr.write(`esbuild_bundle.js: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}\n`);
    const b = o.bundles[i];
    for (const f of [b.out, b.lazy?.out]) if (f) fs.rmSync(f, { force: true });
  });
}

main().catch((e) => {
  process.stderr.write(`esbuild_bundle.js: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
