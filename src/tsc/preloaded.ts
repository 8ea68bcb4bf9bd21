/**
 * What the compiler snapshot hands the compiles started from it (src/tsc/snapshot.ts makes it, src/tsc/program-cache.ts
 * takes from it): the compiler, its typescript.js's SHA-256, and the files it parsed, by path relative to the working
 * directory, with the text and the parse options each was parsed from. A global of the snapshot's heap, since the
 * snapshot and the runner are two bundles: this module is the one place that names it.
 */
import type * as ts from "typescript";

/** A file parsed in the snapshot: reused only for the same path, text and parse options (program-cache.ts `parseKey`). */
export interface Parsed {
  text: string;
  sourceFile: ts.SourceFile;
  languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions;
  options: ts.CompilerOptions;
}

/** The compiler snapshot's contents. */
export interface Preloaded {
  ts: typeof ts;
  sha256: string;
  parsed: Map<string, Parsed>;
}

declare global {
  /** Set by the snapshot's builder; present only in a process started from the snapshot. */
  var __rulesPipelineTsc: Preloaded | undefined;
}

/** What this process started from, when it started from the compiler snapshot. */
export function preloaded(): Preloaded | undefined {
  return globalThis.__rulesPipelineTsc;
}

/** Leaves `p` in the heap the snapshot is made of (the builder's last step). */
export function setPreloaded(p: Preloaded): void {
  globalThis.__rulesPipelineTsc = p;
}
