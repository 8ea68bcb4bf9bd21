// @ts-check
/**
 * One compile of a target with TypeScript's compiler API (5.x, 6.x; 7.x runs tsc_compilers.js compileNative), for
 * tsc_worker.js, one-shot or as a worker's request: the arguments (`parseArgs`), the program (a fresh one, or the
 * target's builder program of the last request: tsc_program_cache.js) over the request's input view
 * (tsc_inputs.js), the diagnostics as tsc prints them (`formatDiagnostics`), and the declared outputs written.
 * What it chose is tsc_worker.js's header (invariant 4: the diagnostics).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { compilerAt, compileNative, importHint, moduleFormatProblem, nodeModulesAt } = require("./tsc_compilers.js");
const { inputView, viewSys } = require("./tsc_inputs.js");
const {
  loadTypescript,
  preloaded,
  resolutionKey,
  shareSources,
  targetState,
  useSnapshot,
} = require("./tsc_program_cache.js");

// The compiler is any TypeScript 5.x or 6.x the action names, loaded at run time: its API, diagnostics and programs
// are typed loosely (`any`), as in tsc_program_cache.js.

/**
 * @typedef {{ typescript: string, typescriptLabel: string, project: string, label: string, tsconfig: string,
 *   expect: string[], npmRepos: string[], npmLinks: string[], nodeModules: string[], snapshot: string,
 *   threads: string }} Options
 */

/** @param {string[]} argv @returns {Options} */
function parseArgs(argv) {
  /** @type {Options} */
  const o = {
    typescript: "",
    typescriptLabel: "",
    project: "",
    label: "",
    tsconfig: "",
    expect: [],
    npmRepos: [],
    npmLinks: [],
    nodeModules: [],
    snapshot: "",
    threads: "single",
  };
  for (let i = 0; i < argv.length; i++) {
    // `--flag=value` (a value that may start with "@", which Bazel would take for a flag file on a line of its own)
    // or `--flag value`.
    const eq = argv[i].startsWith("--") ? argv[i].indexOf("=") : -1;
    const a = eq > 0 ? argv[i].slice(0, eq) : argv[i];
    const v = eq > 0 ? argv[i].slice(eq + 1) : argv[++i];
    if (v === undefined) throw new Error(`tsc_worker: ${a} needs a value`);
    if (a === "--typescript") o.typescript = v;
    else if (a === "--typescript-label") o.typescriptLabel = v;
    else if (a === "--tsconfig") o.tsconfig = v;
    else if (a === "--project") o.project = v;
    else if (a === "--label") o.label = v;
    else if (a === "--expect") o.expect.push(v);
    else if (a === "--npm-repo") o.npmRepos.push(v);
    else if (a === "--npm-link") o.npmLinks.push(v);
    else if (a === "--node-modules") o.nodeModules.push(v);
    else if (a === "--snapshot") o.snapshot = v;
    else if (a === "--threads") {
      if (v !== "single" && v !== "compiler") throw new Error(`tsc_worker: --threads is single or compiler, got ${v}`);
      o.threads = v;
    } else throw new Error(`tsc_worker: unknown argument ${JSON.stringify(a)}`);
  }
  if (!o.typescript || !o.project) throw new Error("tsc_worker: --typescript and --project are required");
  return o;
}

/**
 * tsc's lines for `diagnostics`, and a hint under each import that cannot be found.
 * @param {any} ts @param {readonly any[]} diagnostics @param {Options} o
 */
function formatDiagnostics(ts, diagnostics, o) {
  const host = {
    getCanonicalFileName: (/** @type {string} */ f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => "\n",
  };
  let out = "";
  for (const d of diagnostics) {
    out += ts.formatDiagnostic(d, host);
    out += importHint(d.code, ts.flattenDiagnosticMessageText(d.messageText, "\n"), o);
  }
  // Paths relative to the working directory: a message names no sandbox or execroot, and reads the same in both modes.
  return out.split(process.cwd() + path.sep).join("");
}

/**
 * Compiles one target. `inputs` (worker mode) maps each input's absolute path to its digest: other files are absent.
 * @param {string[]} argv
 * @param {Map<string, string> | undefined} inputs
 * @returns {{ code: number, output: string }}
 */
function compile(argv, inputs) {
  const o = parseArgs(argv);
  const compiler = compilerAt(o.typescript, o.typescriptLabel || o.typescript);
  if (compiler.native) return compileNative({ ...compiler, native: compiler.native }, o, inputs);
  const ts = loadTypescript(/** @type {string} */ (compiler.api), inputs);
  const projectAbs = path.resolve(o.project);
  const compilerAbs = path.resolve(/** @type {string} */ (compiler.api));
  // Per target and compiler: one worker serves every compiler (ts_compile_action.bzl), and a program is its own's.
  const state = inputs ? targetState(`${compilerAbs}\0${projectAbs}`) : undefined;
  const view = inputs ? inputView(inputs) : undefined;
  // The compile's node_modules (tsc_compilers.js nodeModulesAt): its paths lead into the deps' trees.
  const { sys, digestOf } = viewSys(ts, view, (dirExists) => nodeModulesAt(o.nodeModules, dirExists));
  /** @type {any[]} */
  const diagnosticsOfConfig = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(
    projectAbs,
    {},
    {
      ...sys,
      onUnRecoverableConfigFileDiagnostic: (/** @type {any} */ d) => diagnosticsOfConfig.push(d),
    },
  );
  if (!parsed || diagnosticsOfConfig.length || parsed.errors.length) {
    return { code: 1, output: formatDiagnostics(ts, [...diagnosticsOfConfig, ...(parsed ? parsed.errors : [])], o) };
  }
  const options = parsed.options;
  const sources = parsed.fileNames.map((/** @type {string} */ f) => path.relative(process.cwd(), f));
  const module = options.module === undefined ? "commonjs" : String(ts.ModuleKind[options.module]).toLowerCase();
  const formatProblem = moduleFormatProblem({
    module,
    sources,
    read: (p) => sys.readFile(p),
    label: o.label,
    tsconfig: o.tsconfig,
  });
  if (formatProblem) return { code: 1, output: formatProblem };
  const host = ts.createCompilerHost(options, true);
  // As `tsc` itself parses (TypeScript ≥ 5.3: executeCommandLine's hosts): JSDoc only where a type error can depend
  // on it (all of it in JavaScript files, `@see`/`@link` in TypeScript). Parsing every .d.ts's JSDoc (@types/node
  // and the lib files) was ~12% of a one-shot compile's CPU; the same diagnostics and emitted bytes.
  if (ts.JSDocParsingMode) host.jsDocParsingMode = ts.JSDocParsingMode.ParseForTypeErrors;
  host.fileExists = sys.fileExists;
  host.readFile = sys.readFile;
  host.directoryExists = sys.directoryExists;
  host.getDirectories = sys.getDirectories;
  // The lib files as the action names them (Node resolved typescript.js to its real path, outside the execroot).
  const libDir = path.dirname(path.resolve(/** @type {string} */ (compiler.api)));
  host.getDefaultLibLocation = () => libDir;
  host.getDefaultLibFileName = (/** @type {any} */ opts) => path.join(libDir, ts.getDefaultLibFileName(opts));
  const snapshot = state ? undefined : preloaded();
  // Parsed in the snapshot: the same path, text and parse options only (the header).
  if (snapshot && snapshot.ts === ts) useSnapshot(host, options, snapshot);
  if (state) shareSources(host, options, digestOf, compilerAbs);

  const expected = new Set(o.expect.map((p) => path.resolve(p)));
  /** @type {Map<string, string>} */
  const written = state ? state.emitted : new Map();
  const writeFile = (/** @type {string} */ fileName, /** @type {string} */ text) => {
    const abs = path.resolve(fileName);
    if (expected.has(abs)) written.set(abs, text);
  };

  /** @type {any[]} */
  let diagnostics;
  if (state && view) {
    // The invariant (see the header): the old program is reused only when resolution would see the same world.
    const key = resolutionKey(options, [...parsed.fileNames, ...o.nodeModules], view);
    if (key !== state.resolutionKey) state.builder = undefined;
    state.resolutionKey = key;
    // Without noEmitOnError (header, 4): the diagnostics below decide whether to emit; with it, every emit would ask
    // for the whole program's declaration diagnostics, type-checking every file again in the new program's checker.
    // A copy with every property descriptor: `configFile` is not enumerable, and the options' own errors name it.
    /** @type {any} */
    const builderOptions = Object.defineProperties({}, Object.getOwnPropertyDescriptors(options));
    builderOptions.noEmitOnError = false;
    const builder = ts.createEmitAndSemanticDiagnosticsBuilderProgram(
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
    if (!diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) {
      const emitted = builder.emit(undefined, writeFile);
      diagnostics.push(...emitted.diagnostics);
    }
  } else {
    const program = ts.createProgram({
      rootNames: parsed.fileNames,
      options,
      host,
      projectReferences: parsed.projectReferences,
    });
    diagnostics = [...ts.getPreEmitDiagnostics(program)];
    if (!diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) {
      diagnostics.push(...program.emit(undefined, writeFile).diagnostics);
    }
  }
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  let output = formatDiagnostics(ts, ts.sortAndDeduplicateDiagnostics(diagnostics), o);
  if (errors.length) return { code: 1, output };

  for (const out of expected) {
    const text = written.get(out);
    if (text === undefined) {
      output += `error: ${o.label}: the compiler produced no ${path.relative(process.cwd(), out)} (is the source excluded by the tsconfig, or an output name clash?)\n`;
      return { code: 1, output };
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    // Bazel makes the outputs of an earlier run read-only: replace, never write through.
    fs.rmSync(out, { force: true });
    fs.writeFileSync(out, text);
  }
  return { code: 0, output };
}

module.exports = { compile, parseArgs };
