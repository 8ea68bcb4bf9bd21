#!/usr/bin/env node
// @ts-check
/**
 * Builds and packs the publishable npm packages of packages/:
 *
 *   node scripts/pack.js cli     [--out DIR]   → DIR/rules_pipeline-cli-VERSION.tgz      (`pipeline` command)
 *   node scripts/pack.js runtime [--out DIR]   → DIR/rules_pipeline-runtime-VERSION.tgz  (@rules_pipeline/runtime)
 *   node scripts/pack.js cli --bundle-deps     → DIR/rules_pipeline-cli-VERSION-bundled.tgz (dependencies inside)
 *
 * Prints the tarball's absolute path (last stdout line). DIR defaults to dist/packages.
 *
 * What it chose:
 *  - Each package is assembled in a fresh temporary staging directory (packages/NAME's package.json and README plus
 *    the built files), so nothing built lands in the source tree and two runs never race on one directory.
 *  - cli: tools/pipeline.ts bundled by esbuild into one `pipeline-main.js`, run by `pipeline.js` (tools/pipeline-loader.ts)
 *    with a V8 code cache in the user's cache directory (src/cli/code-cache.ts). `yaml` and `tweetnacl` are bundled;
 *    `@aws-sdk/*` and `@kubernetes/client-node` stay external `dependencies` of the package (loaded lazily by the
 *    commands that use them, found by normal node resolution from the installed package).
 *    The compiled runtime library goes beside it (runtime/index.js and the map worker's files), for `pipeline build --lockfile`.
 *  - runtime: src/runtime/*.ts (tests aside) transpiled to CommonJS: index.js + index.d.ts, the map worker's files.
 *  - cli --bundle-deps: the dependencies go inside the tarball (`bundleDependencies`, at the versions of the root
 *    package-lock.json), for machines where `npm install -g` cannot reach the npm registry (`--offline` works: npm
 *    ignores a tarball's npm-shrinkwrap.json on `install -g` and would fetch the dependencies' packuments). About
 *    8 MB instead of 0.3 MB.
 *  - Both refuse to pack when packages/NAME/package.json's version differs from src/version.ts's VERSION.
 */
"use strict";
const { spawnSync } = require("node:child_process");
const {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");

/** @param {string} cmd @param {string[]} args @param {string} [cwd] */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, {
    cwd: cwd ?? ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(" ")} exited ${r.status}\n${r.stdout}`);
  return r.stdout;
}

function sourceVersion() {
  const m = /export const VERSION = "([^"]+)"/.exec(readFileSync(path.join(ROOT, "src", "version.ts"), "utf8"));
  if (!m) throw new Error('scripts/pack.js: no `export const VERSION = "..."` in src/version.ts');
  return m[1];
}

/**
 * `pipeline.js`, the command: a small loader (tools/pipeline-loader.ts) that runs `pipeline-main.js`, the CLI's
 * bundle, whose second file `pipeline-main.lazy.js` (the commands) it has loaded with a V8 code cache in the user's
 * cache directory (src/cli/lazy-bundle.ts, src/cli/code-cache.ts). Built by the Bazel rules' bundler
 * (bootstrap/esbuild_bundle.js, as `//:pipeline_cli`): the same split, `import()` turned into `require()`.
 * @param {string} stage
 */
function buildCli(stage) {
  const bundler = path.join(ROOT, "bootstrap", "esbuild_bundle.js");
  const main = path.join(stage, "pipeline-main.js");
  run(process.execPath, [
    bundler,
    path.join(ROOT, "node_modules", "esbuild", "lib", "main.js"),
    "node_modules",
    ...[
      "--bundle",
      "tools/pipeline.ts",
      main,
      "--lazy",
      path.join(stage, "pipeline-main.lazy.js"),
      "src/cli/lazy-bundle.ts",
    ],
    // Only the lockfile build compiles the runtime library from TypeScript sources, which a bundle never has.
    ...["@aws-sdk/*", "@kubernetes/client-node", "typescript"].flatMap((e) => ["--external", e]),
    ...["--bundle", "tools/pipeline-loader.ts", path.join(stage, "pipeline.js")],
    ...["src", "tools", "node_modules"].flatMap((d) => ["--input-dir", d]),
    // The plain JavaScript the CLI imports (src/lockfile/install.ts).
    ...["--input", "bootstrap/npm_guard.js"],
  ]);
}

/** @param {string} stage */
function buildCliWithRuntime(stage) {
  buildCli(stage);
  // `pipeline build --lockfile` puts the runtime library into images: src/lockfile/runtime-lib.ts finds it here.
  buildRuntime(path.join(stage, "runtime"));
  for (const f of readdirSync(path.join(stage, "runtime")))
    if (f.endsWith(".d.ts")) rmSync(path.join(stage, "runtime", f));
}

/**
 * The runtime library as the Bazel rules build it (`@rules_pipeline//:runtime_transpile`): the same transpiler
 * (tools/ts-transpile.ts, bundled by the same bundler as `//:ts_transpiler`), so the same bytes. @param {string} stage
 */
function buildRuntime(stage) {
  mkdirSync(stage, { recursive: true });
  const tools = mkdtempSync(path.join(tmpdir(), "rp-pack-transpiler-"));
  try {
    const transpiler = path.join(tools, "ts_transpile.js");
    run(process.execPath, [
      path.join(ROOT, "bootstrap", "esbuild_bundle.js"),
      path.join(ROOT, "node_modules", "esbuild", "lib", "main.js"),
      "node_modules",
      ...["--bundle", "tools/ts-transpile.ts", transpiler],
      ...["src", "tools"].flatMap((d) => ["--input-dir", d]),
    ]);
    run(process.execPath, [
      transpiler,
      path.join(ROOT, "node_modules", "typescript", "lib", "typescript.js"),
      ...readdirSync(path.join(ROOT, "src", "runtime"))
        .filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts"))
        .flatMap((n) => {
          const stem = n.slice(0, -".ts".length);
          return [
            path.join(ROOT, "src", "runtime", n),
            path.join(stage, `${stem}.js`),
            path.join(stage, `${stem}.d.ts`),
          ];
        }),
    ]);
  } finally {
    rmSync(tools, { recursive: true, force: true });
  }
}

const BUILDERS = { cli: buildCliWithRuntime, runtime: buildRuntime };

/** Installs the package's dependencies into the staging directory, pinned by the root lockfile, and bundles them. @param {string} stage */
function bundleDependencies(stage) {
  const file = path.join(stage, "package.json");
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  copyFileSync(path.join(ROOT, "package-lock.json"), path.join(stage, "package-lock.json"));
  const npmFlags = ["--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"];
  run("npm", ["install", "--package-lock-only", ...npmFlags], stage); // prunes the lockfile to these dependencies
  run("npm", ["ci", "--omit=dev", ...npmFlags], stage);
  rmSync(path.join(stage, "package-lock.json"));
  manifest.bundleDependencies = Object.keys(manifest.dependencies ?? {});
  writeFileSync(file, JSON.stringify(manifest, null, 2) + "\n");
}

function main() {
  const argv = process.argv.slice(2);
  const name = argv[0];
  let out = path.join(ROOT, "dist", "packages");
  let bundle = false;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--out" && argv[i + 1]) out = path.resolve(argv[++i]);
    else if (argv[i] === "--bundle-deps" && name === "cli") bundle = true;
    else
      throw new Error(
        `scripts/pack.js: unexpected argument ${JSON.stringify(argv[i])} (usage: pack.js cli [--bundle-deps] [--out DIR] | pack.js runtime [--out DIR])`,
      );
  }
  if (name !== "cli" && name !== "runtime")
    throw new Error(`scripts/pack.js: unknown package ${JSON.stringify(name)} (expected cli or runtime)`);
  const src = path.join(ROOT, "packages", name);
  const manifest = JSON.parse(readFileSync(path.join(src, "package.json"), "utf8"));
  const version = sourceVersion();
  if (manifest.version !== version) {
    throw new Error(
      `scripts/pack.js: packages/${name}/package.json has version ${manifest.version} but src/version.ts has ${version}`,
    );
  }
  const stage = mkdtempSync(path.join(tmpdir(), `rp-pack-${name}-`));
  try {
    for (const f of ["package.json", "README.md"])
      if (existsSync(path.join(src, f))) copyFileSync(path.join(src, f), path.join(stage, f));
    BUILDERS[name](stage);
    if (bundle) bundleDependencies(stage);
    const packed = path.join(stage, ".packed");
    mkdirSync(packed);
    const json = JSON.parse(run("npm", ["pack", "--json", "--loglevel=error", "--pack-destination", packed], stage));
    mkdirSync(out, { recursive: true });
    const tgz = path.join(out, bundle ? json[0].filename.replace(/\.tgz$/, "-bundled.tgz") : json[0].filename);
    copyFileSync(path.join(packed, json[0].filename), tgz);
    process.stdout.write(tgz + "\n");
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

// The bench runs the CLI users get (this bundle), not the compiled sources.
module.exports = { buildCliWithRuntime };

if (require.main === module) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
    process.exitCode = 1;
  }
}
