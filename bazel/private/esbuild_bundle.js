// @ts-check
/**
 * Bundles rules_pipeline's tools with esbuild at fetch time (bazel/private/tools_repo.bzl), straight from the
 * TypeScript sources: the `pipeline` CLI the rules' actions and launchers run, the launchers' preload, and the npm
 * packages run-time commands load lazily (the Kubernetes client, the AWS SDK), each one file.
 *
 *   node esbuild_bundle.js @PARAMS   (one argument a line:)
 *   ESBUILD_MAIN_JS NODE_PATH (--bundle ENTRY OUT [--external PKG]...)... [--input FILE]... [--input-dir DIR]...
 *
 * Each `--bundle` writes OUT from ENTRY; the `--external` patterns after it are its own (kept as run-time
 * `require`s). All bundles are built at once (esbuild uses both cores).
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
  "usage: esbuild_bundle.js ESBUILD_MAIN_JS NODE_PATH (--bundle ENTRY OUT [--external PKG]...)... [--input FILE]... [--input-dir DIR]... (or @PARAMS_FILE)";

/** @param {string[]} argv */
function parseArgs(argv) {
  if (argv.length === 1 && argv[0].startsWith("@"))
    argv = fs
      .readFileSync(argv[0].slice(1), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  const [esbuildMain, nodePath, ...rest] = argv;
  if (!esbuildMain || !nodePath) throw new Error(USAGE);
  /** @type {{ entry: string, out: string, external: string[] }[]} */
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

/** @param {string} request */
function isBarePackage(request) {
  return !(request.startsWith(".") || path.isAbsolute(request));
}

/**
 * An esbuild plugin that lets a resolution through only when it lands on a declared input.
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
      build.onResolve({ filter: /.*/ }, async (args) => {
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
          const d = await build.resolve(args.path, { kind: args.kind, resolveDir: nodePath, namespace: args.namespace, pluginData: INNER });
          if (!d.errors.length && d.namespace === "file" && d.path && declared(realpath(d.path))) return { path: d.path, sideEffects: d.sideEffects };
        }
        const from = args.importer ? path.relative(process.cwd(), args.importer) : "the entry point";
        return {
          errors: [
            {
              text: `${from}: ${JSON.stringify(args.path)} resolves to ${real}, which is not a declared input. Add its package to the declared npm tree (bazel/npm/package.json), or make it \`external\` if it is loaded at run time (an optional require).`,
            },
          ],
        };
      });
    },
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const files = new Set([...o.inputs, ...o.bundles.map((b) => b.entry)].map(realpath));
  const dirs = o.inputDirs.map((d) => realpath(d) + path.sep);
  const declared = (/** @type {string} */ real) => files.has(real) || dirs.some((d) => real.startsWith(d));
  const nodePath = path.resolve(o.nodePath);
  const esbuild = require(path.resolve(o.esbuildMain));
  const results = await Promise.allSettled(
    o.bundles.map((b) =>
      esbuild.build({
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
      }),
    ),
  );
  // esbuild has printed its errors (logLevel "warning").
  if (results.some((r) => r.status === "rejected")) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`esbuild_bundle.js: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
