/**
 * The run-time half of the CLI's bundle in two files (bootstrap/esbuild_bundle.js, `--lazy`): the first file holds
 * what start-up loads (the command table, the parser, the error boundary), the second (`<first>.lazy.js`) the
 * commands, loaded when a command first imports one of its modules. `--version`, `--help` and a usage error never
 * read it. Each module is in one of the two files only: the second takes the first's modules (`PipelineError`, the
 * exit hooks) from the table `setBundleCore` was given, so classes and module state exist once.
 *
 * The loaders (tools/pipeline-loader.ts, tools/bundle-loader.ts) set BUNDLE_CODE_CACHE_VAR: the second file is then
 * compiled with the V8 code cache of an earlier run (src/cli/code-cache.ts). Build actions run the first file
 * directly (a sandbox's cache root is not writable; a worker compiles once) and load the second with `require`.
 * Outside a bundle (tests, tsc's output) nothing imports this module.
 */

/** Set to "1" by the loaders; removed when this module loads, so that no child process inherits it. */
export const BUNDLE_CODE_CACHE_VAR = "PIPELINE_BUNDLE_CODE_CACHE";

const withCodeCache = process.env[BUNDLE_CODE_CACHE_VAR] === "1";
delete process.env[BUNDLE_CODE_CACHE_VAR];

type Table = Record<string, () => unknown>;

let core: Table | undefined;
let lazy: Table | undefined;

/** The first file's modules, each loaded on first use: what the second file imports from the first. */
export function setBundleCore(table: Table): void {
  core = table;
}

/** The second file of the bundle `bundle`. */
export const lazyBundleFile = (bundle: string): string => `${bundle.replace(/\.js$/, "")}.lazy.js`;

/** The second file's table of modules, from what it exports: a function of the first file's table. */
function openLazy(init: unknown, file: string, bundle: string): Table {
  if (typeof init !== "function" || !core)
    throw new Error(`${file} is not the second file of ${bundle} (or ${bundle} was not built with it)`);
  return init(core);
}

/** The module `key` (its path when bundled) of the second file, which is loaded on the first call. */
export function lazyModule(bundle: string, key: string): unknown {
  const file = lazyBundleFile(bundle);
  // Loaded only here: start-up never pays for node:vm and node:crypto.
  const modules = (lazy ??= openLazy(
    withCodeCache ? (require("./code-cache") as typeof import("./code-cache")).loadBundle(file) : require(file),
    file,
    bundle,
  ));
  const load = modules[key];
  if (!load) throw new Error(`${file} has no module ${key}: it is not the second file of ${bundle}`);
  return load();
}
