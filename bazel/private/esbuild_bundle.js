// @ts-check
/**
 * The JsBundle action's program: bundles compiled CommonJS into one file with esbuild, so that the rules' build
 * actions take the `pipeline` CLI as a single input instead of its npm tree.
 *
 *   node esbuild_bundle.js ESBUILD_MAIN_JS ENTRY OUT NODE_PATH [--external PKG]...
 *
 * Deterministic: no metafile, no source map, no absolute paths (esbuild's path comments are relative to the
 * execroot, the working directory), legal comments kept at the end of the file.
 */
"use strict";
const path = require("node:path");

function main() {
  const [esbuildMain, entry, out, nodePath, ...rest] = process.argv.slice(2);
  if (!esbuildMain || !entry || !out || !nodePath) throw new Error("usage: esbuild_bundle.js ESBUILD_MAIN_JS ENTRY OUT NODE_PATH [--external PKG]...");
  const external = [];
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] !== "--external" || !rest[i + 1]) throw new Error(`esbuild_bundle.js: unexpected argument ${JSON.stringify(rest[i])}`);
    external.push(rest[i + 1]);
  }
  const esbuild = require(path.resolve(esbuildMain));
  const result = esbuild.buildSync({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external,
    nodePaths: [path.resolve(nodePath)],
    absWorkingDir: process.cwd(),
    legalComments: "eof",
    logLevel: "warning",
    // Keep `require.main === module` checks and stack traces readable.
    keepNames: true,
  });
  if (result.errors.length) process.exitCode = 1;
}

main();
