/**
 * One compile of a target with TypeScript's compiler API (5.x, 6.x; 7.x runs native.ts), for worker.ts, one-shot or
 * as a worker's request: the program (a fresh one, or the target's builder program of the last request:
 * program-cache.ts) over the request's input view (inputs.ts), the diagnostics as tsc prints them
 * (`formatDiagnostics`), and the declared outputs written. What it chose is worker.ts's header (invariant 4: the
 * diagnostics).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import type * as ts from "typescript";
import { type Options, parseArgs } from "./args";
import { type Compiler, compilerAt, importHint, moduleFormatProblem, nodeModulesAt } from "./compilers";
import { inputView, viewSys } from "./inputs";
import { compileNative, compileNativeResident } from "./native";
import { preloaded } from "./preloaded";
import { loadTypescript, resolutionKey, shareSources, targetState, useSnapshot } from "./program-cache";
import type { WorkResult } from "./protocol";

/** tsc's lines for `diagnostics`, and a hint under each import that cannot be found. */
function formatDiagnostics(tsApi: typeof ts, diagnostics: readonly ts.Diagnostic[], o: Options): string {
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => "\n",
  };
  let out = "";
  for (const d of diagnostics) {
    out += tsApi.formatDiagnostic(d, host);
    out += importHint(d.code, tsApi.flattenDiagnosticMessageText(d.messageText, "\n"), o);
  }
  // Paths relative to the working directory: a message names no sandbox or execroot, and reads the same in both modes.
  return out.split(process.cwd() + sep).join("");
}

/**
 * A worker's request: with TypeScript 7, through the target's resident compiler where it can (native.ts), else as
 * `compile`.
 */
export async function compileRequest(argv: string[], inputs: Map<string, string> | undefined): Promise<WorkResult> {
  const o = parseArgs(argv);
  const compiler = compilerAt(o.typescript, o.typescriptLabel || o.typescript);
  if (inputs && "native" in compiler) return compileNativeResident(compiler.native, o, inputs);
  return compileWith(o, compiler, inputs);
}

/**
 * Compiles one target. `inputs` (worker mode) maps each input's absolute path to its digest: other files are absent.
 */
export function compile(argv: string[], inputs: Map<string, string> | undefined): WorkResult {
  const o = parseArgs(argv);
  return compileWith(o, compilerAt(o.typescript, o.typescriptLabel || o.typescript), inputs);
}

/** `compile` with its arguments parsed and its compiler found. */
function compileWith(o: Options, compiler: Compiler, inputs: Map<string, string> | undefined): WorkResult {
  if ("native" in compiler) return compileNative(compiler.native, o, inputs);
  const tsApi = loadTypescript(compiler.api, inputs);
  const projectAbs = resolve(o.project);
  const compilerAbs = resolve(compiler.api);
  // Per target and compiler: one worker serves every compiler (ts_compile_action.bzl), and a program is its own's.
  const state = inputs ? targetState(`${compilerAbs}\0${projectAbs}`) : undefined;
  const view = inputs ? inputView(inputs) : undefined;
  // The compile's node_modules (compilers.ts nodeModulesAt): its paths lead into the deps' trees.
  const { sys, digestOf } = viewSys(tsApi, view, (dirExists) => nodeModulesAt(o.nodeModules, dirExists));
  const diagnosticsOfConfig: ts.Diagnostic[] = [];
  const parsed = tsApi.getParsedCommandLineOfConfigFile(
    projectAbs,
    {},
    { ...sys, onUnRecoverableConfigFileDiagnostic: (d) => diagnosticsOfConfig.push(d) },
  );
  if (!parsed || diagnosticsOfConfig.length || parsed.errors.length) {
    return { code: 1, output: formatDiagnostics(tsApi, [...diagnosticsOfConfig, ...(parsed ? parsed.errors : [])], o) };
  }
  const options = parsed.options;
  const sources = parsed.fileNames.map((f) => relative(process.cwd(), f));
  const module = options.module === undefined ? "commonjs" : String(tsApi.ModuleKind[options.module]).toLowerCase();
  const formatProblem = moduleFormatProblem({
    module,
    sources,
    read: (p) => sys.readFile(p),
    label: o.label,
    tsconfig: o.tsconfig,
  });
  if (formatProblem) return { code: 1, output: formatProblem };
  const host = tsApi.createCompilerHost(options, true);
  // As `tsc` itself parses (TypeScript ≥ 5.3: executeCommandLine's hosts): JSDoc only where a type error can depend
  // on it (all of it in JavaScript files, `@see`/`@link` in TypeScript). Parsing every .d.ts's JSDoc (@types/node
  // and the lib files) was ~12% of a one-shot compile's CPU; the same diagnostics and emitted bytes. (5.0-5.2 have no
  // JSDocParsingMode: the loaded compiler may lack what its types say.)
  if (tsApi.JSDocParsingMode) host.jsDocParsingMode = tsApi.JSDocParsingMode.ParseForTypeErrors;
  host.fileExists = sys.fileExists;
  host.readFile = sys.readFile;
  host.directoryExists = sys.directoryExists;
  host.getDirectories = sys.getDirectories;
  // The lib files as the action names them (Node resolved typescript.js to its real path, outside the execroot).
  const libDir = dirname(compilerAbs);
  host.getDefaultLibLocation = () => libDir;
  host.getDefaultLibFileName = (opts) => join(libDir, tsApi.getDefaultLibFileName(opts));
  const snapshot = state ? undefined : preloaded();
  // Parsed in the snapshot: the same path, text and parse options only (the header).
  if (snapshot && snapshot.ts === tsApi) useSnapshot(host, options, snapshot);
  if (state) shareSources(host, options, digestOf, compilerAbs);

  const expected = new Set(o.expect.map((p) => resolve(p)));
  const written: Map<string, string> = state ? state.emitted : new Map();
  const writeFile = (fileName: string, text: string) => {
    const abs = resolve(fileName);
    if (expected.has(abs)) written.set(abs, text);
  };

  let diagnostics: ts.Diagnostic[];
  if (state && view) {
    // The invariant (see the header): the old program is reused only when resolution would see the same world.
    const key = resolutionKey(options, [...parsed.fileNames, ...o.nodeModules], view);
    if (key !== state.resolutionKey) state.builder = undefined;
    state.resolutionKey = key;
    // Without noEmitOnError (header, 4): the diagnostics below decide whether to emit; with it, every emit would ask
    // for the whole program's declaration diagnostics, type-checking every file again in the new program's checker.
    // A copy with every property descriptor: `configFile` is not enumerable, and the options' own errors name it.
    const builderOptions: ts.CompilerOptions = Object.defineProperties({}, Object.getOwnPropertyDescriptors(options));
    builderOptions.noEmitOnError = false;
    const builder = tsApi.createEmitAndSemanticDiagnosticsBuilderProgram(
      parsed.fileNames,
      builderOptions,
      host,
      state.builder,
      [],
      parsed.projectReferences,
    );
    state.builder = builder;
    // What ts.getPreEmitDiagnostics gives the one-shot compile, declaration errors included (header, 4).
    diagnostics = [
      ...builder.getConfigFileParsingDiagnostics(),
      ...builder.getOptionsDiagnostics(),
      ...builder.getGlobalDiagnostics(),
      ...builder.getSyntacticDiagnostics(),
      ...builder.getSemanticDiagnostics(),
      ...(options.declaration || options.composite ? builder.getDeclarationDiagnostics() : []),
    ];
    if (!diagnostics.some((d) => d.category === tsApi.DiagnosticCategory.Error)) {
      const emitted = builder.emit(undefined, writeFile);
      diagnostics.push(...emitted.diagnostics);
    }
  } else {
    const program = tsApi.createProgram({
      rootNames: parsed.fileNames,
      options,
      host,
      projectReferences: parsed.projectReferences,
    });
    diagnostics = [...tsApi.getPreEmitDiagnostics(program)];
    if (!diagnostics.some((d) => d.category === tsApi.DiagnosticCategory.Error)) {
      diagnostics.push(...program.emit(undefined, writeFile).diagnostics);
    }
  }
  const errors = diagnostics.filter((d) => d.category === tsApi.DiagnosticCategory.Error);
  let output = formatDiagnostics(tsApi, tsApi.sortAndDeduplicateDiagnostics(diagnostics), o);
  if (errors.length) return { code: 1, output };

  for (const out of expected) {
    const text = written.get(out);
    if (text === undefined) {
      output += `error: ${o.label}: the compiler produced no ${relative(process.cwd(), out)} (is the source excluded by the tsconfig, or an output name clash?)\n`;
      return { code: 1, output };
    }
    mkdirSync(dirname(out), { recursive: true });
    // Bazel makes the outputs of an earlier run read-only: replace, never write through.
    rmSync(out, { force: true });
    writeFileSync(out, text);
  }
  return { code: 0, output };
}
