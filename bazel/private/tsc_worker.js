// @ts-check
/**
 * The TsCompile action's program: compiles one target's TypeScript with the compiler API, one-shot or as a
 * persistent Bazel worker (https://bazel.build/remote/persistent, proto protocol: length-delimited
 * WorkRequest/WorkResponse on stdin/stdout, worker_protocol.js), keeping an incremental program per target between
 * requests.
 *
 *   node tsc_worker.js @ARGS_FILE                      one compile (the fallback: workers off, or sandboxed)
 *   node tsc_worker.js --persistent_worker             a worker: each request's arguments are ARGS_FILE's lines
 *
 * Arguments (one per line in ARGS_FILE): --typescript PATH/typescript.js --project TSCONFIG --label LABEL
 * [--expect OUTPUT]... [--npm-repo NAME]... [--npm-link //PKG:node_modules]... [--snapshot BLOB]
 *
 * What it chose:
 * - Only the declared outputs (`--expect`) are written, whatever tsc would emit besides (copied .json files...),
 *   and every one of them is written on each request, also by the worker, whose incremental program re-emits only
 *   affected files: the rest come from its memory of the last emit. A declared output tsc did not produce is an
 *   error. The bytes written are the same in both modes (tested).
 * - A worker answers exactly as a one-shot compile in a sandbox holding only the request's inputs would. The
 *   invariant that keeps it so:
 *   1. What the compiler sees is the request's inputs alone: a file that is not an input is absent (fileExists,
 *      readFile, readDirectory), and a directory exists only if an input is under it (directoryExists,
 *      getDirectories), as in a sandbox, whatever else the execroot holds. An input that is a symlink (rules_js's
 *      `node_modules/<pkg>`, an unresolved symlink to its package store directory) leads to what its target holds
 *      among the inputs, as the sandbox's copy of the link does; a file read through one is known by its target's
 *      digest.
 *   2. Parsed source files are shared (across requests and targets) only under their input digest and the options
 *      that change parsing; a file's version is its digest, never an mtime. The compiler module is loaded once per
 *      content (its input digest): a compiler replaced at the same path is loaded again and everything the old one
 *      made is dropped (Bazel 7 starts a new worker for new tools; Bazel 4.2.3 keeps the old one), and a replaced
 *      runner answers through its new file (bazel/private/worker_protocol.js).
 *   3. The previous program of a target is reused only when its resolutionKey is unchanged: the compiler options, the
 *      root files, the exact set of input paths and the digests of the package.json files. TypeScript reuses the
 *      module and type-reference resolutions of unchanged files, including failed ones; those depend on nothing else
 *      (which paths exist, what package.json files say, the options), so with an equal key a fresh resolution would
 *      give the same answers. Any other change (a dep added or removed, a file added, removed or renamed, a
 *      package.json edited, an option changed) starts a fresh program, whose only memory is (2).
 *   Changed sources and declarations under an equal key are TypeScript's own incremental case (a new version of a
 *   file: its imports are resolved again, its dependents re-checked).
 *   4. The diagnostics are those ts.getPreEmitDiagnostics gives a one-shot compile: the config's, options, global,
 *      syntactic, semantic and, when declarations are emitted, declaration diagnostics, here the builder's
 *      (incremental: computed for the files it would emit, remembered for unchanged ones). It emits only when none
 *      is an error. Its program runs without the tsconfig's `noEmitOnError` (the rules set it; one-shot compiles
 *      keep it): with it, TypeScript's emit of even one changed file asks for the declaration diagnostics of the
 *      whole program, which type-checks every file again in the new program's checker (~120 of ~150 ms per request
 *      on a 31-file library), for an answer the check before the emit already has.
 *   test/unit/tsc-worker-fuzz.test.ts and test/e2e/worker-differential.test.ts check the whole claim against the
 *   sandbox over random edit sequences (declaration errors among them).
 * - One-shot, with `--snapshot BLOB` (tsc_snapshot.js: TypeScript loaded, the default lib and @types/node parsed), it
 *   runs the compile in a Node started from that snapshot (`node --snapshot-blob BLOB tsc_worker.js ARGS...`), which
 *   takes the compiler only if its typescript.js has the same SHA-256 as the action's, and a parsed file only for the
 *   same path, text and parse options (`parseKey`, the worker's rule in 2): the same answer for about half the CPU
 *   (bench P17).
 *   A snapshot Node refuses (made by another Node binary or with other V8 flags, e.g. NODE_OPTIONS) is reported in
 *   one line and the compile runs here without it. A worker ignores the argument (it loads the compiler once).
 * - Errors are tsc's own lines (`file(line,col): error TSnnnn: message`), paths relative to the working directory
 *   (no sandbox or execroot path); an import of a package that cannot be found gets a hint naming the dep to add, an
 *   untyped package one naming its `@types` package or how to declare the module. Plain JavaScript with type checks
 *   (no build step: it compiles the tools themselves).
 * - Memory: at most MAX_STATES targets, fewer when the heap passes PIPELINE_TSC_WORKER_MAX_HEAP_MB (least recently
 *   used go first; an evicted target compiles from scratch). PIPELINE_TSC_WORKER_STATS=1 adds a line saying how many
 *   targets and how much live heap each response leaves, and to a compile started from the snapshot one saying what
 *   it took from it (for tests).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { compilerAt, compileNative, importHint, moduleFormatProblem, nodeModulesAt } = require("./tsc_compilers.js");
const { fileIdentity, readFlagFiles, serveWorker } = require("./worker_protocol.js");

/**
 * @typedef {{ typescript: string, typescriptLabel: string, project: string, label: string, tsconfig: string,
 *   expect: string[], npmRepos: string[], npmLinks: string[], nodeModules: string[], snapshot: string }} Options
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
    else throw new Error(`tsc_worker: unknown argument ${JSON.stringify(a)}`);
  }
  if (!o.typescript || !o.project) throw new Error("tsc_worker: --typescript and --project are required");
  return o;
}

/** The compiler modules loaded, by path, with the content they were loaded from. @type {Map<string, { id: string, ts: any }>} */
const tsModules = new Map();

/**
 * What the compiler snapshot holds (tsc_snapshot.js), when this process started from one: the compiler, its
 * typescript.js's SHA-256, and the files it parsed by path relative to the working directory.
 * @returns {{ ts: any, sha256: string, parsed: Map<string, { text: string, sourceFile: any, languageVersion: any, options: any }> } | undefined}
 */
const preloaded = () => /** @type {any} */ (globalThis).__rulesPipelineTsc;

/** What this process took from the snapshot (PIPELINE_TSC_WORKER_STATS=1 reports it). */
const fromSnapshot = { compiler: false, files: 0 };

/**
 * What parsing a file depends on besides its text: what the compiler passes to getSourceFile that createSourceFile
 * reads (the language version, the file's module format, the JSDoc parsing mode) and the options that change how a
 * file is parsed (they decide the external-module indicator). Not the package.json locations and scope it passes
 * too: absolute paths (a sandbox's own), which the program sets on the file it gets back, cached or not. A parsed
 * file is reused, by a worker or from the snapshot, only under an equal key.
 * @param {any} options @param {any} languageVersion a ScriptTarget, or TypeScript's CreateSourceFileOptions
 */
function parseKey(options, languageVersion) {
  const v = typeof languageVersion === "object" && languageVersion !== null ? languageVersion : { languageVersion };
  const parse = [v.languageVersion, v.impliedNodeFormat, v.jsDocParsingMode];
  return JSON.stringify([
    parse,
    options.target,
    options.module,
    options.moduleResolution,
    options.moduleDetection,
    options.jsx,
    options.allowJs,
  ]);
}

/**
 * The compiler at `p`, loaded once per content: `inputs` (worker mode) gives its digest (Bazel lists tools among a
 * request's inputs), else its file identity (device, inode, size, times). A compiler replaced at the same path (the
 * rules' typescript upgraded while a worker lives: Bazel 4.2.3 keeps its workers when their tools change) is loaded
 * again, and every program and parsed file made by the old one is dropped.
 * @param {string} p @param {Map<string, string> | undefined} inputs
 */
function loadTypescript(p, inputs) {
  const abs = path.resolve(p);
  const id = inputs?.get(abs) ?? fileIdentity(abs);
  const loaded = tsModules.get(abs);
  if (loaded?.id === id) return loaded.ts;
  if (loaded) {
    delete require.cache[require.resolve(abs)];
    states.clear();
    sharedSources.clear();
  }
  const snapshot = inputs ? undefined : preloaded();
  const sameAsSnapshot =
    snapshot &&
    require("node:crypto").createHash("sha256").update(fs.readFileSync(abs)).digest("hex") === snapshot.sha256;
  const ts = sameAsSnapshot ? snapshot.ts : require(abs);
  fromSnapshot.compiler ||= Boolean(sameAsSnapshot);
  tsModules.set(abs, { id, ts });
  return ts;
}

/** tsc's lines for `diagnostics`, and a hint under each import that cannot be found. */
function formatDiagnostics(ts, diagnostics, /** @type {Options} */ o) {
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

/** One target's compiler state in a worker: the builder program of the last request and the last text of every output. */
class TargetState {
  constructor() {
    /** @type {any} */
    this.builder = undefined;
    /** What the builder's module and type-reference resolutions were made against (`resolutionKey`). */
    this.resolutionKey = "";
    /** @type {Map<string, string>} */
    this.emitted = new Map();
  }
}

/** Per target, least recently used first. Bounded by count and by the worker's heap (a program of a big target holds
 * its checker's types), so a worker never grows without limit; an evicted target just compiles from scratch. */
/** @type {Map<string, TargetState>} */
const states = new Map();
const MAX_STATES = 32;
const MAX_HEAP = Number(process.env.PIPELINE_TSC_WORKER_MAX_HEAP_MB || 1536) * 1024 * 1024;

/** Parsed source files shared by every target of this worker (lib.d.ts and @types/node are the bulk), by path. */
/** @type {Map<string, { key: string, sf: any }>} */
const sharedSources = new Map();

/** Symlink inputs seen so far, by path and digest: their targets (absolute), or "" for an input that is no symlink. */
/** @type {Map<string, string>} */
const linkTargets = new Map();

/**
 * The absolute target of `f` if it is a symlink, else "". Bazel gives a symlink input (an unresolved symlink, as
 * rules_js links `node_modules/<pkg>` to its package store directory) the digest of its target path, so a changed
 * link is a new key.
 * @param {string} f @param {string} digest
 */
function linkTarget(f, digest) {
  const key = `${f}\0${digest}`;
  let target = linkTargets.get(key);
  if (target === undefined) {
    target = "";
    try {
      if (fs.lstatSync(f).isSymbolicLink()) target = path.resolve(path.dirname(f), fs.readlinkSync(f));
    } catch {
      // Absent: not a link.
    }
    linkTargets.set(key, target);
  }
  return target;
}

/**
 * The files and directories a request may see: its inputs, and every directory above one (as in a sandbox, where a
 * directory exists only because an input is in it), and through each input that is a symlink (`links`, path →
 * absolute target) what its target leads to among them, as the sandbox's copy of the link would. Paths are absolute.
 * @param {Map<string, string>} inputs path → digest
 */
function inputView(inputs) {
  const dirs = new Set();
  /** @type {Map<string, string>} */
  const links = new Map();
  for (const [f, digest] of inputs) {
    for (let d = path.dirname(f); !dirs.has(d); d = path.dirname(d)) {
      dirs.add(d);
      if (d === path.dirname(d)) break;
    }
    const target = linkTarget(f, digest);
    if (target) links.set(f, target);
  }
  return { files: inputs, dirs, links };
}

/**
 * The first of `p` and the paths the symlink inputs among its leading parts lead to (link by link, as the file system
 * resolves them) for which `found` answers, or undefined (also after 40 links: a loop). Stopping at the first answer
 * matters where every input is a link (Bazel's sandboxed workers link each input to the execroot): a file or
 * directory among the inputs is taken as it is, never followed out of them.
 * @template T
 * @param {{ links: Map<string, string> }} view @param {string} p @param {(p: string) => T | undefined} found
 * @returns {T | undefined}
 */
function throughLinks(view, p, found) {
  for (let hops = 0; hops < 40; hops++) {
    const answer = found(p);
    if (answer !== undefined || view.links.size === 0) return answer;
    let dir = p;
    let rest = "";
    while (!view.links.has(dir)) {
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      rest = rest ? path.join(path.basename(dir), rest) : path.basename(dir);
      dir = up;
    }
    const target = /** @type {string} */ (view.links.get(dir));
    p = rest ? path.join(target, rest) : target;
  }
  return undefined;
}

/**
 * Everything module and type-reference resolution depends on, as one string: the compiler options, the root files,
 * the set of paths that exist (the inputs), and the content of the files resolution reads (package.json: `types`,
 * `typings`, `main`, `exports`, `typesVersions`). Sources and declarations are not in it: a changed one gets a new
 * version, and TypeScript resolves that file's imports again.
 * @param {any} options @param {string[]} rootNames @param {{ files: Map<string, string>, links: Map<string, string> }} view
 */
function resolutionKey(options, rootNames, view) {
  const entries = [];
  for (const [p, digest] of view.files) entries.push(p.endsWith(`${path.sep}package.json`) ? `${p}\0${digest}` : p);
  for (const [p, target] of view.links) entries.push(`${p}\0-> ${target}`);
  entries.sort();
  return require("node:crypto")
    .createHash("sha256")
    .update(JSON.stringify([options, rootNames, entries]))
    .digest("hex");
}

/** A full garbage collection, so that the heap measured is what the kept targets hold (not garbage yet to go). */
const collectGarbage = (() => {
  let gc;
  return () => {
    if (!gc) {
      require("node:v8").setFlagsFromString("--expose-gc");
      gc = require("node:vm").runInNewContext("gc");
    }
    gc();
  };
})();

/** The live heap, measured after a full collection. */
function liveHeap() {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** Drops least recently used targets: down to MAX_STATES, then while the live heap is over MAX_HEAP (keeping one). */
function evict() {
  const dropOldest = () => states.delete(/** @type {string} */ (states.keys().next().value));
  while (states.size > MAX_STATES) dropOldest();
  // Measuring is a collection (tens of ms on a big heap): only when the heap may be over, with garbage included.
  if (process.memoryUsage().heapUsed <= MAX_HEAP) return;
  while (states.size > 1 && liveHeap() > MAX_HEAP) dropOldest();
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
  const worker = inputs !== undefined;
  let state = worker ? states.get(projectAbs) : undefined;
  if (worker) {
    state ??= new TargetState();
    states.delete(projectAbs); // most recently used last
    states.set(projectAbs, state);
  }
  const view = inputs ? inputView(inputs) : undefined;
  const visible = (/** @type {string} */ f) =>
    !view || throughLinks(view, path.resolve(f), (p) => (view.files.has(p) ? true : undefined)) === true;
  const visibleDir = (/** @type {string} */ d) =>
    !view || throughLinks(view, path.resolve(d), (p) => (view.dirs.has(p) ? true : undefined)) === true;
  /** The input digest of a file, also when it is read through a symlink input. */
  const digestOf = (/** @type {string} */ p) => {
    const abs = real.path(p);
    return view ? throughLinks(view, abs, (q) => view.files.get(q)) : inputs?.get(abs);
  };
  // The compile's node_modules (tsc_compilers.js nodeModulesAt): its paths lead into the deps' trees.
  const real = nodeModulesAt(o.nodeModules, (d) => visibleDir(d) && ts.sys.directoryExists(d));
  const sys = {
    ...ts.sys,
    fileExists: (/** @type {string} */ f) => visible(real.path(f)) && ts.sys.fileExists(real.path(f)),
    readFile: (/** @type {string} */ f, /** @type {string=} */ enc) =>
      visible(real.path(f)) ? ts.sys.readFile(real.path(f), enc) : undefined,
    directoryExists: (/** @type {string} */ d) =>
      real.isRoot(d) || (visibleDir(real.path(d)) && ts.sys.directoryExists(real.path(d))),
    getDirectories: (/** @type {string} */ d) =>
      real.isRoot(d)
        ? real.entries()
        : ts.sys
            .getDirectories(real.path(d))
            .filter((/** @type {string} */ c) => visibleDir(path.join(real.path(d), c))),
    readDirectory: (/** @type {any[]} */ ...a) => ts.sys.readDirectory(...a).filter(visible),
  };
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
  if (snapshot?.ts === ts) {
    // Parsed in the snapshot: the same path, text and parse options only (the header).
    const original = host.getSourceFile.bind(host);
    host.getSourceFile = (
      /** @type {string} */ fileName,
      /** @type {any} */ languageVersion,
      /** @type {any} */ onError,
      /** @type {any} */ shouldCreate,
    ) => {
      const hit = shouldCreate ? undefined : snapshot.parsed.get(path.relative(process.cwd(), path.resolve(fileName)));
      if (
        hit &&
        parseKey(hit.options, hit.languageVersion) === parseKey(options, languageVersion) &&
        host.readFile(fileName) === hit.text
      ) {
        fromSnapshot.files++;
        return hit.sourceFile;
      }
      return original(fileName, languageVersion, onError, shouldCreate);
    };
  }
  if (state) {
    const cache = sharedSources;
    const original = host.getSourceFile.bind(host);
    host.getSourceFile = (
      /** @type {string} */ fileName,
      /** @type {any} */ languageVersion,
      /** @type {any} */ onError,
      /** @type {any} */ shouldCreate,
    ) => {
      const abs = path.resolve(fileName);
      const digest = digestOf(abs) ?? "";
      // What parsing depends on: the content, and the options that change how a file is parsed.
      const key = `${digest}|${parseKey(options, languageVersion)}`;
      const hit = cache.get(abs);
      if (hit && hit.key === key && !shouldCreate) return hit.sf;
      const sf = original(fileName, languageVersion, onError, shouldCreate);
      if (sf) {
        // The builder program compares versions to find what changed: the input's digest, else the text's hash.
        sf.version = digest || require("node:crypto").createHash("sha256").update(sf.text).digest("hex");
        cache.set(abs, { key, sf });
      }
      return sf;
    };
  }

  const expected = new Set(o.expect.map((p) => path.resolve(p)));
  /** @type {Map<string, string>} */
  const written = state ? state.emitted : new Map();
  const writeFile = (/** @type {string} */ fileName, /** @type {string} */ text) => {
    const abs = path.resolve(fileName);
    if (expected.has(abs)) written.set(abs, text);
  };

  let diagnostics;
  if (state && view) {
    // The invariant (see the header): the old program is reused only when resolution would see the same world.
    const key = resolutionKey(options, [...parsed.fileNames, ...o.nodeModules], view);
    if (key !== state.resolutionKey) state.builder = undefined;
    state.resolutionKey = key;
    // Without noEmitOnError (header, 4): the diagnostics below decide whether to emit; with it, every emit would ask
    // for the whole program's declaration diagnostics, type-checking every file again in the new program's checker.
    // A copy with every property descriptor: `configFile` is not enumerable, and the options' own errors name it.
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

/** A worker: each request compiles one target, with the inputs Bazel names (their digests key the shared state). */
function runWorker() {
  serveWorker("tsc_worker", (req) => {
    const base = req.sandboxDir ? path.resolve(req.sandboxDir) : process.cwd();
    const inputs = new Map([...req.inputs].map(([p, d]) => [path.resolve(base, p), d]));
    // Bazel expands the flag file into the request itself (its lines may start with "@", as labels do).
    const result = compile(req.args, req.inputs.size ? inputs : undefined);
    evict();
    if (process.env.PIPELINE_TSC_WORKER_STATS === "1") {
      result.output += `tsc_worker: ${states.size} targets in memory, heap ${Math.round(liveHeap() / 2 ** 20)} MB\n`;
    }
    return result;
  });
}

/**
 * A one-shot compile in a Node started from the compiler snapshot `blob` (the header): its exit code, or, when Node
 * refused the snapshot, the line saying so (the compile is then to run here).
 * @param {string} blob @param {string[]} argv @returns {{ code: number } | { refused: string }}
 */
function compileFromSnapshot(blob, argv) {
  const child = require("node:child_process").spawnSync(
    process.execPath,
    [...process.execArgv, "--snapshot-blob", blob, __filename, ...argv],
    {
      stdio: ["ignore", "inherit", "pipe"],
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  const stderr = child.stderr ? child.stderr.toString("utf8") : "";
  // Node's snapshot loader: exit 14 for another Node binary or other V8 flags, an assertion (SIGABRT) for a broken blob.
  const refused =
    (child.status === 14 && stderr.includes("startup snapshot")) ||
    (child.signal === "SIGABRT" && stderr.includes("Snapshot"));
  if (refused || child.error) {
    const why =
      child.error?.message ??
      stderr.split("\n").find((l) => /snapshot|Assertion failed/.test(l)) ??
      stderr.trim().split("\n")[0];
    return { refused: `tsc_worker: compiling without the compiler snapshot ${blob}: ${why.trim()}\n` };
  }
  process.stderr.write(stderr);
  if (child.signal)
    process.stderr.write(
      `tsc_worker: the compile (from the compiler snapshot ${blob}) was stopped by ${child.signal}\n`,
    );
  return { code: child.status ?? 1 };
}

function main() {
  const argv = process.argv.slice(2);
  if (argv.includes("--persistent_worker")) {
    runWorker();
    return;
  }
  let result;
  try {
    const args = readFlagFiles(argv);
    const blob = preloaded() ? "" : parseArgs(args).snapshot;
    const fromBlob = blob ? compileFromSnapshot(blob, argv) : { refused: "" };
    if ("code" in fromBlob) {
      process.exitCode = fromBlob.code;
      return;
    }
    result = compile(args, undefined);
    result.output = fromBlob.refused + result.output;
    if (preloaded() && process.env.PIPELINE_TSC_WORKER_STATS === "1") {
      const all = preloaded()?.parsed.size ?? 0;
      result.output += `tsc_worker: from the compiler snapshot: ${fromSnapshot.compiler ? "the compiler" : "not the compiler"}, ${fromSnapshot.files} of its ${all} parsed files\n`;
    }
  } catch (e) {
    result = { code: 1, output: `tsc_worker: ${e instanceof Error ? e.message : String(e)}\n` };
  }
  process.stderr.write(result.output);
  process.exitCode = result.code;
}

if (require.main === module) main();

module.exports = { compile, main, parseArgs };
