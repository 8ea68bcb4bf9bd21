/**
 * Builds the compiler snapshot of one-shot TsCompile actions (tsc_snapshot.bzl, `--@rules_pipeline//bazel:tsc_snapshot`;
 * tools/tsc-snapshot.ts, bundled into `tsc_snapshot.js`):
 *
 *   node --snapshot-blob OUT --build-snapshot tsc_snapshot.js --typescript PATH/typescript.js --types-root DIR
 *
 * A V8 startup snapshot (Node's `--build-snapshot`) of a Node process in which TypeScript is loaded and the files
 * every compile of the rules parses first are parsed: the default lib (ES2022 without the DOM, the rules' default)
 * and `@types/node` with what it references, as a compile with the rules' options reads them. A one-shot compile
 * (worker.ts: sandboxed, remote, workers off) started from it skips loading the compiler and parsing those files
 * (bench P17: a 5-file library 1,430 → 840 ms of CPU, 0.67 × `tsc -p`).
 *
 * What it holds (preloaded.ts) is checked where it is used (program-cache.ts): the compiler only when the action's
 * typescript.js has the same SHA-256 as the one loaded here, a parsed file only when the compile asks for the same
 * path (relative to the working directory) with the same text and the same parse options. So a snapshot can make a
 * compile faster, never different. Node refuses a snapshot made by another Node binary or with other V8 flags; the
 * runner then compiles without it. Nothing of the machine is in it but the paths above, relative to the action's
 * directory.
 *
 * In a snapshot-building script `require` gives Node's built-in modules only, so the compiler is evaluated from its
 * text as CommonJS, and this program is a bundle of its own that loads only node:crypto, node:fs, node:path and
 * node:v8 while it builds (node:module once the snapshot starts): Node warns that others are "not yet fully verified"
 * in a snapshot, which would be every build's output.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { startupSnapshot } from "node:v8";
import type * as ts from "typescript";
import { type Parsed, setPreloaded } from "./preloaded";

function parseArgs(argv: string[]): { typescript: string; typesRoot: string } {
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

/** The compiler in `file` (one CommonJS file, requiring Node's built-in modules only), evaluated, and its SHA-256. */
function loadCompiler(file: string): { compiler: typeof ts; sha256: string } {
  const text = readFileSync(file, "utf8");
  const module = { exports: {} };
  // What the file leaves in `module.exports` is what a CommonJS `require` of it would give.
  const run = new Function(
    "exports",
    "require",
    "module",
    "__filename",
    "__dirname",
    `${text}\nreturn module.exports;`,
  );
  const compiler: typeof ts = run(module.exports, require, module, file, dirname(file));
  return { compiler, sha256: createHash("sha256").update(text).digest("hex") };
}

/** Starts the runner that `node --snapshot-blob BLOB tsc_worker.js ARGS...` names: argv is [node, tsc_worker.js, ARGS...]. */
function startRunner(): void {
  const runner = process.argv[1];
  if (!runner) throw new Error("tsc_snapshot: start it as `node --snapshot-blob BLOB tsc_worker.js ARGS...`");
  const { createRequire }: typeof import("node:module") = require("node:module");
  const loaded: unknown = createRequire(resolve(runner))(resolve(runner));
  const main = typeof loaded === "object" && loaded !== null ? Reflect.get(loaded, "main") : undefined;
  if (typeof main !== "function") throw new Error(`tsc_snapshot: ${runner} exports no main()`);
  main();
}

/** Builds the snapshot's heap: run by `node --build-snapshot`. */
export function buildSnapshot(argv: string[]): void {
  const o = parseArgs(argv);
  // TypeScript requires perf_hooks, which Node warns "not yet fully verified" in a snapshot: TypeScript only reads
  // performance.now() from it, at run time. The warning would be every build's output.
  process.removeAllListeners("warning");
  const { compiler, sha256 } = loadCompiler(resolve(o.typescript));
  // The options of the rules' defaults that parsing depends on (tsconfig_defaults.json, which a compile's tsconfig
  // extends first: its module and lib, no moduleResolution, which the compiler derives from the module).
  const options: ts.CompilerOptions = {
    target: compiler.ScriptTarget.ES2022,
    module: compiler.ModuleKind.CommonJS,
    lib: ["lib.es2022.d.ts"],
    types: ["node"],
    typeRoots: [resolve(o.typesRoot)],
    skipLibCheck: true,
    // As the rules' tsconfig has it: in a sandbox every input is a symlink, and a resolved file would otherwise be
    // named by its real path, outside the sandbox, which no compile asks for.
    preserveSymlinks: true,
    noEmit: true,
  };
  const host = compiler.createCompilerHost(options, true);
  if (compiler.JSDocParsingMode) host.jsDocParsingMode = compiler.JSDocParsingMode.ParseForTypeErrors;
  const libDir = dirname(resolve(o.typescript));
  host.getDefaultLibLocation = () => libDir;
  host.getDefaultLibFileName = (opts) => join(libDir, compiler.getDefaultLibFileName(opts));
  const parsed = new Map<string, Parsed>();
  // A program reads its lib and types only when it has a root file: an empty one, in memory.
  const root = resolve("__rules_pipeline_tsc_snapshot__.ts");
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === root || fileExists(f);
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError) => {
    if (fileName === root) return compiler.createSourceFile(root, "export {};\n", languageVersion);
    const sourceFile = original(fileName, languageVersion, onError);
    if (sourceFile) {
      parsed.set(relative(process.cwd(), resolve(fileName)), {
        text: sourceFile.text,
        sourceFile,
        languageVersion,
        options,
      });
    }
    return sourceFile;
  };
  // Making the program parses every file it reads (nothing is type-checked); the program itself is not kept: a
  // compile makes its own. What the runner looks for (preloaded.ts):
  compiler.createProgram({ rootNames: [root], options, host });
  setPreloaded({ ts: compiler, sha256, parsed });
  startupSnapshot.setDeserializeMainFunction(startRunner);
}
