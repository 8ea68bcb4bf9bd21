// @ts-check
/**
 * Builds the compiler snapshot of one-shot TsCompile actions (tsc_snapshot.bzl, `--@rules_pipeline//bazel:tsc_snapshot`):
 *
 *   node --snapshot-blob OUT --build-snapshot tsc_snapshot.js --typescript PATH/typescript.js --types-root DIR
 *
 * A V8 startup snapshot (Node's `--build-snapshot`) of a Node process in which TypeScript is loaded and the files
 * every compile of the rules parses first are parsed: the default lib (tsc_worker.js's, ES2022 without the DOM) and
 * `@types/node` with what it references, as a compile with the rules' options reads them. A one-shot compile
 * (tsc_worker.js: sandboxed, remote, workers off) started from it skips loading the compiler and parsing those files
 * (bench P17: a 5-file library 1,430 → 840 ms of CPU, 0.67 × `tsc -p`).
 *
 * What it holds is checked where it is used (tsc_worker.js): the compiler only when the action's typescript.js has
 * the same SHA-256 as the one loaded here, a parsed file only when the compile asks for the same path (relative to
 * the working directory) with the same text and the same parse options. So a snapshot can make a compile faster,
 * never different. Node refuses a snapshot made by another Node binary or with other V8 flags; tsc_worker.js then
 * compiles without it. Nothing of the machine is in it but the paths above, relative to the action's directory.
 *
 * In a snapshot-building script `require` gives Node's built-in modules only, so the compiler is evaluated from its
 * text as CommonJS.
 */
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const v8 = require("node:v8");

/** @param {string[]} argv */
function parseArgs(argv) {
  const o = { typescript: "", typesRoot: "" };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`tsc_snapshot: ${flag} needs a value`);
    if (flag === "--typescript") o.typescript = value;
    else if (flag === "--types-root") o.typesRoot = value;
    else throw new Error(`tsc_snapshot: unknown argument ${JSON.stringify(flag)}`);
  }
  if (!o.typescript || !o.typesRoot) throw new Error("tsc_snapshot: --typescript and --types-root are required");
  return o;
}

/** The CommonJS module in `file` (one file, requiring Node's built-in modules only), evaluated. */
function loadCommonJs(/** @type {string} */ file) {
  const text = fs.readFileSync(file, "utf8");
  const module = { exports: {} };
  new Function("exports", "require", "module", "__filename", "__dirname", text)(
    module.exports,
    require,
    module,
    file,
    path.dirname(file),
  );
  return {
    exports: /** @type {any} */ (module.exports),
    sha256: crypto.createHash("sha256").update(text).digest("hex"),
  };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  // TypeScript requires perf_hooks, which Node warns "not yet fully verified" in a snapshot: TypeScript only reads
  // performance.now() from it, at run time. The warning would be every build's output.
  process.removeAllListeners("warning");
  const { exports: ts, sha256 } = loadCommonJs(path.resolve(o.typescript));
  // The options of the rules' defaults that parsing depends on (tsconfig_defaults.json, which a compile's tsconfig
  // extends first: its module and lib, no moduleResolution, which the compiler derives from the module).
  const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    lib: ["lib.es2022.d.ts"],
    types: ["node"],
    typeRoots: [path.resolve(o.typesRoot)],
    skipLibCheck: true,
    // As the rules' tsconfig has it: in a sandbox every input is a symlink, and a resolved file would otherwise be
    // named by its real path, outside the sandbox, which no compile asks for.
    preserveSymlinks: true,
    noEmit: true,
  };
  const host = ts.createCompilerHost(options, true);
  if (ts.JSDocParsingMode) host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  const libDir = path.dirname(path.resolve(o.typescript));
  host.getDefaultLibLocation = () => libDir;
  host.getDefaultLibFileName = (/** @type {any} */ opts) => path.join(libDir, ts.getDefaultLibFileName(opts));
  /** @type {Map<string, { text: string, sourceFile: any, languageVersion: any, options: any }>} */
  const parsed = new Map();
  // A program reads its lib and types only when it has a root file: an empty one, in memory.
  const root = path.resolve("__rules_pipeline_tsc_snapshot__.ts");
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (/** @type {string} */ f) => f === root || fileExists(f);
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (
    /** @type {string} */ fileName,
    /** @type {any} */ languageVersion,
    /** @type {any} */ onError,
  ) => {
    if (fileName === root) return ts.createSourceFile(root, "export {};\n", languageVersion);
    const sourceFile = original(fileName, languageVersion, onError);
    if (sourceFile) {
      parsed.set(path.relative(process.cwd(), path.resolve(fileName)), {
        text: sourceFile.text,
        sourceFile,
        languageVersion,
        options,
      });
    }
    return sourceFile;
  };
  // Making the program parses every file it reads (nothing is type-checked); the program itself is not kept: a
  // compile makes its own. What tsc_worker.js looks for (`preloaded`):
  ts.createProgram({ rootNames: [root], options, host });
  /** @type {any} */ (globalThis).__rulesPipelineTsc = { ts, sha256, parsed };
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    // `node --snapshot-blob BLOB tsc_worker.js ARGS...`: argv is [node, tsc_worker.js, ARGS...], as without one.
    const runner = process.argv[1];
    if (!runner) throw new Error("tsc_snapshot: start it as `node --snapshot-blob BLOB tsc_worker.js ARGS...`");
    require("node:module").createRequire(path.resolve(runner))(path.resolve(runner)).main();
  });
}

main();
