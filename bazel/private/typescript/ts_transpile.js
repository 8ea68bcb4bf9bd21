// @ts-check
/**
 * The TsTranspile action's program: one TypeScript file to JavaScript and declarations, file by file, with no
 * program and no type-check (`transpileModule` and `transpileDeclaration`, TypeScript ≥ 5.5). For rules_pipeline's
 * runtime library (src/runtime/index.ts), which the project's CI type-checks: the compiler options are the ones
 * TsCompile gives a target without a tsconfig (ts_compile_action.bzl), and the bytes are tsc's own, which
 * test/unit/ts-transpile.test.ts checks against a full tsc program of the same file.
 *
 *   node ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS [SRC OUT_JS OUT_DTS]...
 *
 * (several files in one run: src/lockfile/runtime-lib.ts transpiles the runtime library's files at once; each
 * file's bytes are what a run of its own writes.)
 * A declaration needs explicit types on what the file exports (`isolatedDeclarations`); where one is missing, the
 * action fails with TypeScript's message naming the file, line and column.
 */
"use strict";
const fs = require("node:fs");

/** @param {string[]} argv */
function main(argv) {
  if (argv.length < 4 || (argv.length - 1) % 3 !== 0)
    throw new Error("usage: ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS [SRC OUT_JS OUT_DTS]...");
  /** @type {typeof import("typescript")} */
  const ts = require(require("node:path").resolve(argv[0]));
  for (let i = 1; i < argv.length; i += 3) {
    const rc = transpile(ts, argv[i], argv[i + 1], argv[i + 2]);
    if (rc !== 0) return rc;
  }
  return 0;
}

/** @param {typeof import("typescript")} ts @param {string} src @param {string} outJs @param {string} outDts */
function transpile(ts, src, outJs, outDts) {
  const compilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    esModuleInterop: true,
    strict: true,
    newLine: ts.NewLineKind.LineFeed,
  };
  const text = fs.readFileSync(src, "utf8");
  const js = ts.transpileModule(text, { compilerOptions, fileName: src, reportDiagnostics: true });
  const dts = ts.transpileDeclaration(text, {
    compilerOptions: { ...compilerOptions, declaration: true, isolatedDeclarations: true },
    fileName: src,
    reportDiagnostics: true,
  });
  const problems = [...(js.diagnostics ?? []), ...(dts.diagnostics ?? [])];
  if (problems.length) {
    const host = {
      getCanonicalFileName: (/** @type {string} */ f) => f,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => "\n",
    };
    process.stderr.write(ts.formatDiagnostics(problems, host));
    return 1;
  }
  fs.writeFileSync(outJs, js.outputText);
  fs.writeFileSync(outDts, dts.outputText);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`ts_transpile: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
