/**
 * The TsTranspile action's program (tools/ts-transpile.ts, bundled into `ts_transpile.js`): one TypeScript file to
 * JavaScript and declarations, file by file, with no program and no type-check (`transpileModule` and
 * `transpileDeclaration`, TypeScript ≥ 5.5). For rules_pipeline's runtime library (src/runtime/index.ts and the map
 * worker's files), which the project's CI type-checks: the compiler options are the ones TsCompile gives a target
 * without a tsconfig (ts_compile_action.bzl), and the bytes are tsc's own, which test/unit/ts-transpile.test.ts checks
 * against a full tsc program of the same file.
 *
 *   node ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS [SRC OUT_JS OUT_DTS]...
 *
 * (several files in one run, as scripts/release.sh and scripts/pack.js transpile the runtime library's files; each
 * file's bytes are what a run of its own writes.) `transpileRuntime` is the same in-process, for the CLI run from its
 * TypeScript sources (src/lockfile/runtime-lib.ts). A declaration needs explicit types on what the file exports
 * (`isolatedDeclarations`); where one is missing, the action fails with TypeScript's message naming the file, line and
 * column.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type * as ts from "typescript";

/** One file's JavaScript and declarations, or TypeScript's messages for it (`problems`, formatted). */
export type Transpiled = { js: string; dts: string } | { problems: string };

/** `src`'s text transpiled by `compiler` (`fileName`: how messages name it). */
export function transpile(compiler: typeof ts, text: string, fileName: string): Transpiled {
  const compilerOptions: ts.CompilerOptions = {
    target: compiler.ScriptTarget.ES2022,
    module: compiler.ModuleKind.CommonJS,
    esModuleInterop: true,
    strict: true,
    newLine: compiler.NewLineKind.LineFeed,
  };
  const js = compiler.transpileModule(text, { compilerOptions, fileName, reportDiagnostics: true });
  const dts = compiler.transpileDeclaration(text, {
    compilerOptions: { ...compilerOptions, declaration: true, isolatedDeclarations: true },
    fileName,
    reportDiagnostics: true,
  });
  const problems = [...(js.diagnostics ?? []), ...(dts.diagnostics ?? [])];
  if (problems.length) {
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => "\n",
    };
    return { problems: compiler.formatDiagnostics(problems, host) };
  }
  return { js: js.outputText, dts: dts.outputText };
}

/** The compiler module at `typescriptJs` (a typescript.js of 5.5 or later). */
export function loadCompiler(typescriptJs: string): typeof ts {
  return require(resolve(typescriptJs));
}

/** The program: each SRC OUT_JS OUT_DTS triple of `argv` after TYPESCRIPT_JS; its exit code. The error boundary. */
export function main(argv: string[]): number {
  try {
    if (argv.length < 4 || (argv.length - 1) % 3 !== 0)
      throw new Error("usage: ts_transpile.js TYPESCRIPT_JS SRC OUT_JS OUT_DTS [SRC OUT_JS OUT_DTS]...");
    const compiler = loadCompiler(argv[0]);
    for (let i = 1; i < argv.length; i += 3) {
      const out = transpile(compiler, readFileSync(argv[i], "utf8"), argv[i]);
      if ("problems" in out) {
        process.stderr.write(out.problems);
        return 1;
      }
      writeFileSync(argv[i + 1], out.js);
      writeFileSync(argv[i + 2], out.dts);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`ts_transpile: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
