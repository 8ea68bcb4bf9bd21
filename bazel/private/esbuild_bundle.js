// @ts-check
/**
 * The JsBundle action's program: bundles compiled CommonJS into one file with esbuild, so that the rules' build
 * actions take the `pipeline` CLI as a single input instead of its npm tree.
 *
 *   node esbuild_bundle.js @PARAMS   (one argument a line:)
 *   ESBUILD_MAIN_JS ENTRY OUT NODE_PATH [--external PKG]... [--input FILE]...
 *
 * Only declared inputs: every `require`/`import` must resolve to one of the `--input` files (the action's inputs),
 * be a Node builtin, or match an `--external` pattern (kept as a run-time `require`). Anything else fails the
 * action, naming the importer, the request and the file it resolved to. esbuild resolves symlinks, and Bazel's
 * execroot links the workspace's top-level entries: without this check, a `node_modules` at the consumer's workspace
 * root (never an input) would be bundled whenever an optional `require()` finds a package there, and the bundle's
 * bytes would depend on it (issue 18). Optional requires are therefore `external` in the BUILD file.
 *
 * Deterministic: no metafile, no source map, no absolute paths (esbuild's path comments are relative to the
 * execroot, the working directory), legal comments kept at the end of the file.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const USAGE = "usage: esbuild_bundle.js ESBUILD_MAIN_JS ENTRY OUT NODE_PATH [--external PKG]... [--input FILE]... (or @PARAMS_FILE)";

/** @param {string[]} argv */
function parseArgs(argv) {
  if (argv.length === 1 && argv[0].startsWith("@"))
    argv = fs
      .readFileSync(argv[0].slice(1), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  const [esbuildMain, entry, out, nodePath, ...rest] = argv;
  if (!esbuildMain || !entry || !out || !nodePath) throw new Error(USAGE);
  /** @type {string[]} */
  const external = [];
  /** @type {string[]} */
  const inputs = [];
  for (let i = 0; i < rest.length; i += 2) {
    const value = rest[i + 1];
    if (rest[i] === "--external" && value) external.push(value);
    else if (rest[i] === "--input" && value) inputs.push(value);
    else throw new Error(`esbuild_bundle.js: unexpected argument ${JSON.stringify(rest[i])}; ${USAGE}`);
  }
  return { esbuildMain, entry, out, nodePath, external, inputs };
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
 * esbuild walks up from the importer's real path, and Bazel's execroot links the workspace's top-level entries, so a
 * `node_modules` at the workspace root is met before the declared npm tree (`nodePath`): a package present in both
 * (`yaml` in the rules' own checkout after `npm ci`, or in any consumer's) would resolve to the undeclared copy. A bare
 * package request that lands outside the inputs is therefore resolved again from the declared tree, and only refused if
 * that does not land on an input either.
 * @param {Set<string>} allowed real paths of the declared inputs
 * @param {string} nodePath the declared npm tree's node_modules directory
 * @returns {import("esbuild").Plugin}
 */
function declaredInputsOnly(allowed, nodePath) {
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
        if (allowed.has(real)) return undefined;
        if (isBarePackage(args.path)) {
          const d = await build.resolve(args.path, { kind: args.kind, resolveDir: nodePath, namespace: args.namespace, pluginData: INNER });
          if (!d.errors.length && d.namespace === "file" && d.path && allowed.has(realpath(d.path)))
            return { path: d.path, sideEffects: d.sideEffects };
        }
        const from = args.importer ? path.relative(process.cwd(), args.importer) : "the entry point";
        return {
          errors: [
            {
              text: `${from}: ${JSON.stringify(args.path)} resolves to ${real}, which is not an input of this action. Add its package to the js_bundle's \`deps\`, or to \`external\` if it is loaded at run time (an optional require).`,
            },
          ],
        };
      });
    },
  };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const allowed = new Set(o.inputs.map(realpath));
  allowed.add(realpath(o.entry));
  const esbuild = require(path.resolve(o.esbuildMain));
  try {
    await esbuild.build({
      entryPoints: [o.entry],
      outfile: o.out,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      external: o.external,
      nodePaths: [path.resolve(o.nodePath)],
      absWorkingDir: process.cwd(),
      legalComments: "eof",
      logLevel: "warning",
      // Keep `require.main === module` checks and stack traces readable.
      keepNames: true,
      plugins: [declaredInputsOnly(allowed, path.resolve(o.nodePath))],
    });
  } catch {
    // esbuild has printed its errors (logLevel "warning").
    process.exitCode = 1;
  }
}

main().catch((e) => {
  process.stderr.write(`esbuild_bundle.js: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
