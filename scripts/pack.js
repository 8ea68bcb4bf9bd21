#!/usr/bin/env node
// @ts-check
/**
 * Builds and packs the publishable npm packages of packages/:
 *
 *   node scripts/pack.js cli     [--out DIR]   → DIR/rules_pipeline-cli-VERSION.tgz      (`pipeline` command)
 *   node scripts/pack.js runtime [--out DIR]   → DIR/rules_pipeline-runtime-VERSION.tgz  (@rules_pipeline/runtime)
 *
 * Prints the tarball's absolute path (last stdout line). DIR defaults to dist/packages.
 *
 * What it chose:
 *  - Each package is assembled in a fresh temporary staging directory (packages/NAME's package.json and README plus
 *    the built files), so nothing built lands in the source tree and two runs never race on one directory.
 *  - cli: tools/pipeline.ts bundled by esbuild into one `pipeline.js` (keeping its shebang). `yaml` is bundled;
 *    `@aws-sdk/*` and `@kubernetes/client-node` stay external `dependencies` of the package (loaded lazily by the
 *    commands that use them, found by normal node resolution from the installed package).
 *    The compiled runtime library goes beside it (runtime/index.js), for `pipeline build --lockfile`.
 *  - runtime: src/runtime/index.ts compiled by tsc to CommonJS index.js + index.d.ts.
 *  - Both refuse to pack when packages/NAME/package.json's version differs from src/version.ts's VERSION.
 */
"use strict";
const { spawnSync } = require("node:child_process");
const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "node_modules", ".bin");

/** @param {string} cmd @param {string[]} args @param {string} [cwd] */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd: cwd ?? ROOT, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${r.status}\n${r.stdout}`);
  return r.stdout;
}

function sourceVersion() {
  const m = /export const VERSION = "([^"]+)"/.exec(readFileSync(path.join(ROOT, "src", "version.ts"), "utf8"));
  if (!m) throw new Error("scripts/pack.js: no `export const VERSION = \"...\"` in src/version.ts");
  return m[1];
}

/** @param {string} stage */
function buildCli(stage) {
  run(path.join(BIN, "esbuild"), [
    path.join(ROOT, "tools", "pipeline.ts"),
    "--bundle",
    "--platform=node",
    "--format=cjs",
    "--target=node20",
    "--external:@aws-sdk/*",
    "--external:@kubernetes/client-node",
    // Only the lockfile build compiles the runtime library from TypeScript sources, which a bundle never has.
    "--external:typescript",
    "--keep-names",
    "--legal-comments=eof",
    "--log-level=warning",
    `--outfile=${path.join(stage, "pipeline.js")}`,
  ]);
}

/** @param {string} stage */
function buildCliWithRuntime(stage) {
  buildCli(stage);
  // `pipeline build --lockfile` puts the runtime library into images: src/lockfile/runtime-lib.ts finds it here.
  buildRuntime(path.join(stage, "runtime"));
  rmSync(path.join(stage, "runtime", "index.d.ts"));
}

/** @param {string} stage */
function buildRuntime(stage) {
  run(path.join(BIN, "tsc"), [
    path.join(ROOT, "src", "runtime", "index.ts"),
    "--outDir", stage,
    "--declaration",
    "--module", "commonjs",
    "--target", "ES2022",
    "--lib", "ES2022",
    "--types", "node",
    "--strict",
    "--skipLibCheck",
  ]);
}

const BUILDERS = { cli: buildCliWithRuntime, runtime: buildRuntime };

function main() {
  const argv = process.argv.slice(2);
  const name = argv[0];
  let out = path.join(ROOT, "dist", "packages");
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--out" && argv[i + 1]) out = path.resolve(argv[++i]);
    else throw new Error(`scripts/pack.js: unexpected argument ${JSON.stringify(argv[i])} (usage: pack.js cli|runtime [--out DIR])`);
  }
  if (name !== "cli" && name !== "runtime") throw new Error(`scripts/pack.js: unknown package ${JSON.stringify(name)} (expected cli or runtime)`);
  const src = path.join(ROOT, "packages", name);
  const manifest = JSON.parse(readFileSync(path.join(src, "package.json"), "utf8"));
  const version = sourceVersion();
  if (manifest.version !== version) {
    throw new Error(`scripts/pack.js: packages/${name}/package.json has version ${manifest.version} but src/version.ts has ${version}`);
  }
  const stage = mkdtempSync(path.join(tmpdir(), `rp-pack-${name}-`));
  try {
    for (const f of ["package.json", "README.md"]) if (existsSync(path.join(src, f))) copyFileSync(path.join(src, f), path.join(stage, f));
    BUILDERS[name](stage);
    mkdirSync(out, { recursive: true });
    const json = JSON.parse(run("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", out], stage));
    process.stdout.write(path.join(out, json[0].filename) + "\n");
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
  process.exitCode = 1;
}
