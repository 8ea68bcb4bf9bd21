// @ts-check
/**
 * What a TsCompile worker keeps between requests, and what a one-shot compile takes from the compiler snapshot
 * (tsc_worker.js's header, invariants 2 and 3, and Memory):
 *
 * - the compiler module, loaded once per content (`loadTypescript`), or the snapshot's when it is the same file;
 * - parsed source files, shared across requests and targets under their input digest and the options that change
 *   parsing (`shareSources`), or taken from the snapshot under the same path, text and options (`useSnapshot`);
 * - per target, the builder program of the last request and the last text of every output (`targetState`), reused
 *   only under an equal `resolutionKey`; at most MAX_STATES targets, fewer over the heap limit (`evict`).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { fileIdentity } = require("./worker_protocol.js");

// node:crypto is required where it is used: a one-shot compile without the snapshot never hashes.
// The compiler is any TypeScript 5.x or 6.x the action names, loaded at run time from its path; its API (and its
// program, source file and option objects) is typed loosely (`any`) here: the repository's own typescript types are
// one version of it.

/** The compiler modules loaded, by path, with the content they were loaded from. @type {Map<string, { id: string, ts: any }>} */
const tsModules = new Map();

/**
 * @typedef {{ text: string, sourceFile: any, languageVersion: any, options: any }} Parsed
 * What the compiler snapshot holds (tsc_snapshot.js), when this process started from one: the compiler, its
 * typescript.js's SHA-256, and the files it parsed by path relative to the working directory.
 * @returns {{ ts: any, sha256: string, parsed: Map<string, Parsed> } | undefined}
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
 * The compiler at `p`, loaded once per content: `inputs` (worker mode) gives its digest (the compiler is an input of
 * TsCompile, not a tool: one worker serves every compiler of a workspace), else its file identity (device, inode,
 * size, times). A compiler replaced at the same path (the rules' typescript upgraded while a worker lives) is loaded
 * again, and every program and parsed file made by the old one is dropped.
 * @param {string} p @param {Map<string, string> | undefined} inputs
 * @returns {any}
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

/**
 * Per target, least recently used first. Bounded by count and by the worker's heap (a program of a big target holds
 * its checker's types), so a worker never grows without limit; an evicted target just compiles from scratch.
 * @type {Map<string, TargetState>}
 */
const states = new Map();
const MAX_STATES = 32;
const MAX_HEAP = Number(process.env.PIPELINE_TSC_WORKER_MAX_HEAP_MB || 1536) * 1024 * 1024;

/** The state of the target `key` (its compiler's and generated tsconfig's absolute paths), made most recently used. */
function targetState(/** @type {string} */ key) {
  const state = states.get(key) ?? new TargetState();
  states.delete(key);
  states.set(key, state);
  return state;
}

/** Parsed source files shared by every target of this worker (lib.d.ts and @types/node are the bulk), by compiler and path. */
/** @type {Map<string, { key: string, sf: any }>} */
const sharedSources = new Map();

/**
 * @typedef {(fileName: string, languageVersion: any, onError?: any, shouldCreate?: boolean) => any} GetSourceFile
 * A compiler host's getSourceFile.
 */

/**
 * Makes `host` take a file parsed in the snapshot `snapshot` when the compile asks for the same path, text and parse
 * options (the header).
 * @param {any} host @param {any} options @param {{ parsed: Map<string, Parsed> }} snapshot
 */
function useSnapshot(host, options, snapshot) {
  /** @type {GetSourceFile} */
  const original = host.getSourceFile.bind(host);
  /** @type {GetSourceFile} */
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
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

/**
 * Makes `host` share parsed files with every compile of this worker by the same compiler (`compiler`: its
 * typescript.js; one worker serves every compiler, and a file parsed by one is no other's), under their input digest
 * (`digestOf`) and the options that change parsing, and version each file by its digest (what the builder program
 * compares).
 * @param {any} host @param {any} options @param {(p: string) => string | undefined} digestOf @param {string} compiler
 */
function shareSources(host, options, digestOf, compiler) {
  /** @type {GetSourceFile} */
  const original = host.getSourceFile.bind(host);
  /** @type {GetSourceFile} */
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const abs = path.resolve(fileName);
    const digest = digestOf(abs) ?? "";
    // What parsing depends on: the content, and the options that change how a file is parsed.
    const key = `${digest}|${parseKey(options, languageVersion)}`;
    const hit = sharedSources.get(`${compiler}\0${abs}`);
    if (hit && hit.key === key && !shouldCreate) return hit.sf;
    const sf = original(fileName, languageVersion, onError, shouldCreate);
    if (sf) {
      // The builder program compares versions to find what changed: the input's digest, else the text's hash.
      sf.version = digest || require("node:crypto").createHash("sha256").update(sf.text).digest("hex");
      sharedSources.set(`${compiler}\0${abs}`, { key, sf });
    }
    return sf;
  };
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
  /** @type {(() => void) | undefined} */
  let gc;
  return () => {
    if (!gc) {
      require("node:v8").setFlagsFromString("--expose-gc");
      gc = /** @type {() => void} */ (require("node:vm").runInNewContext("gc"));
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

/** How many targets the worker keeps now. */
const targetCount = () => states.size;

module.exports = {
  evict,
  fromSnapshot,
  liveHeap,
  loadTypescript,
  preloaded,
  resolutionKey,
  shareSources,
  targetCount,
  targetState,
  useSnapshot,
};
