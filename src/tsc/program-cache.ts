/**
 * What a TsCompile worker keeps between requests, and what a one-shot compile takes from the compiler snapshot
 * (worker.ts's header, invariants 2 and 3, and Memory):
 *
 * - the compiler module, loaded once per content (`loadTypescript`), or the snapshot's when it is the same file;
 * - parsed source files, shared across requests and targets under their input digest and the options that change
 *   parsing (`shareSources`), or taken from the snapshot under the same path, text and options (`useSnapshot`);
 * - per target, the builder program of the last request and the last text of every output (`targetState`), reused
 *   only under an equal `resolutionKey`; at most MAX_STATES targets, fewer over the heap limit (`evict`).
 *
 * The compiler is any TypeScript 5.x or 6.x the action names, loaded at run time from its path; it is typed as the
 * repository's own (5.9), the API the rules use being the same in all of them.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { relative, resolve, sep } from "node:path";
import type * as ts from "typescript";
import { type Parsed, preloaded } from "./preloaded";
import { fileIdentity } from "./protocol";

/** The compiler modules loaded, by path, with the content they were loaded from. */
const tsModules = new Map<string, { id: string; ts: typeof ts }>();

/** What this process took from the snapshot (PIPELINE_TSC_WORKER_STATS=1 reports it). */
export const fromSnapshot = { compiler: false, files: 0 };

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * What parsing a file depends on besides its text: what the compiler passes to getSourceFile that createSourceFile
 * reads (the language version, the file's module format, the JSDoc parsing mode) and the options that change how a
 * file is parsed (they decide the external-module indicator). Not the package.json locations and scope it passes
 * too: absolute paths (a sandbox's own), which the program sets on the file it gets back, cached or not. A parsed
 * file is reused, by a worker or from the snapshot, only under an equal key.
 */
function parseKey(options: ts.CompilerOptions, languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions): string {
  const v = typeof languageVersion === "object" ? languageVersion : { languageVersion };
  const parse = [
    v.languageVersion,
    "impliedNodeFormat" in v ? v.impliedNodeFormat : undefined,
    "jsDocParsingMode" in v ? v.jsDocParsingMode : undefined,
  ];
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

/** The compiler module at the absolute path `abs` (a typescript.js of 5.x or 6.x). */
function requireTypescript(abs: string): typeof ts {
  return require(abs);
}

/**
 * The compiler at `p`, loaded once per content: `inputs` (worker mode) gives its digest (the compiler is an input of
 * TsCompile, not a tool: one worker serves every compiler of a workspace), else its file identity (device, inode,
 * size, times). A compiler replaced at the same path (the rules' typescript upgraded while a worker lives) is loaded
 * again, and every program and parsed file made by the old one is dropped.
 */
export function loadTypescript(p: string, inputs: Map<string, string> | undefined): typeof ts {
  const abs = resolve(p);
  const id = inputs?.get(abs) ?? fileIdentity(abs);
  const loaded = tsModules.get(abs);
  if (loaded?.id === id) return loaded.ts;
  if (loaded) {
    delete require.cache[require.resolve(abs)];
    states.clear();
    sharedSources.clear();
  }
  const snapshot = inputs ? undefined : preloaded();
  const sameAsSnapshot = snapshot !== undefined && sha256(readFileSync(abs)) === snapshot.sha256;
  const compiler = sameAsSnapshot ? snapshot.ts : requireTypescript(abs);
  fromSnapshot.compiler ||= sameAsSnapshot;
  tsModules.set(abs, { id, ts: compiler });
  return compiler;
}

/** One target's compiler state in a worker: the builder program of the last request and the last text of every output. */
export interface TargetState {
  builder: ts.EmitAndSemanticDiagnosticsBuilderProgram | undefined;
  /** What the builder's module and type-reference resolutions were made against (`resolutionKey`). */
  resolutionKey: string;
  emitted: Map<string, string>;
}

/**
 * Per target, least recently used first. Bounded by count and by the worker's heap (a program of a big target holds
 * its checker's types), so a worker never grows without limit; an evicted target just compiles from scratch.
 */
const states = new Map<string, TargetState>();
const MAX_STATES = 32;
const MAX_HEAP = Number(process.env.PIPELINE_TSC_WORKER_MAX_HEAP_MB || 1536) * 1024 * 1024;

/** The state of the target `key` (its compiler's and generated tsconfig's absolute paths), made most recently used. */
export function targetState(key: string): TargetState {
  const state = states.get(key) ?? { builder: undefined, resolutionKey: "", emitted: new Map() };
  states.delete(key);
  states.set(key, state);
  return state;
}

/** Parsed source files shared by every target of this worker (lib.d.ts and @types/node are the bulk), by compiler and path. */
const sharedSources = new Map<string, { key: string; sf: ts.SourceFile }>();

/**
 * Makes `host` take a file parsed in the snapshot `snapshot` when the compile asks for the same path, text and parse
 * options (worker.ts's header).
 */
export function useSnapshot(
  host: ts.CompilerHost,
  options: ts.CompilerOptions,
  snapshot: { parsed: Map<string, Parsed> },
): void {
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const hit = shouldCreate ? undefined : snapshot.parsed.get(relative(process.cwd(), resolve(fileName)));
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
 */
export function shareSources(
  host: ts.CompilerHost,
  options: ts.CompilerOptions,
  digestOf: (p: string) => string | undefined,
  compiler: string,
): void {
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const abs = resolve(fileName);
    const digest = digestOf(abs) ?? "";
    // What parsing depends on: the content, and the options that change how a file is parsed.
    const key = `${digest}|${parseKey(options, languageVersion)}`;
    const hit = sharedSources.get(`${compiler}\0${abs}`);
    if (hit && hit.key === key && !shouldCreate) return hit.sf;
    const sf = original(fileName, languageVersion, onError, shouldCreate);
    if (sf) {
      // The builder program compares versions to find what changed: the input's digest, else the text's hash. (A
      // source file's `version` is the compiler's own field, not in its public types.)
      Object.assign(sf, { version: digest || sha256(sf.text) });
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
 */
export function resolutionKey(
  options: ts.CompilerOptions,
  rootNames: string[],
  view: { files: Map<string, string>; links: Map<string, string> },
): string {
  const entries: string[] = [];
  for (const [p, digest] of view.files) entries.push(p.endsWith(`${sep}package.json`) ? `${p}\0${digest}` : p);
  for (const [p, target] of view.links) entries.push(`${p}\0-> ${target}`);
  entries.sort();
  return sha256(JSON.stringify([options, rootNames, entries]));
}

let gc: (() => void) | undefined;

/** A full garbage collection, so that the heap measured is what the kept targets hold (not garbage yet to go). */
function collectGarbage(): void {
  if (!gc) {
    // Loaded here: a compile that never measures (one-shot, a small worker) does not pay for node:v8 (~5 ms).
    const v8: typeof import("node:v8") = require("node:v8");
    const vm: typeof import("node:vm") = require("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const exposed: unknown = vm.runInNewContext("gc");
    if (typeof exposed !== "function") throw new Error("--expose-gc gave no gc function");
    gc = () => exposed();
  }
  gc();
}

/** The live heap, measured after a full collection. */
export function liveHeap(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/** Drops least recently used targets: down to MAX_STATES, then while the live heap is over MAX_HEAP (keeping one). */
export function evict(): void {
  const dropOldest = () => {
    const oldest = states.keys().next();
    if (!oldest.done) states.delete(oldest.value);
  };
  while (states.size > MAX_STATES) dropOldest();
  // Measuring is a collection (tens of ms on a big heap): only when the heap may be over, with garbage included.
  if (process.memoryUsage().heapUsed <= MAX_HEAP) return;
  while (states.size > 1 && liveHeap() > MAX_HEAP) dropOldest();
}

/** How many targets the worker keeps now. */
export const targetCount = (): number => states.size;
