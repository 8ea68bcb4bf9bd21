/**
 * The TsCompile action's program (tools/tsc-worker.ts, bundled into `tsc_worker.js`): compiles one target's
 * TypeScript with the compiler API, one-shot or as a persistent Bazel worker (https://bazel.build/remote/persistent,
 * proto protocol: length-delimited WorkRequest/WorkResponse on stdin/stdout, protocol.ts), keeping an incremental
 * program per target between requests.
 *
 *   node tsc_worker.js @ARGS_FILE                      one compile (the fallback: workers off, or sandboxed)
 *   node tsc_worker.js --persistent_worker             a worker: each request's arguments are ARGS_FILE's lines
 *
 * The arguments (one per line in ARGS_FILE) are args.ts's.
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
 *      digest (inputs.ts).
 *   2. Parsed source files are shared (across requests and targets) only under their input digest and the options
 *      that change parsing; a file's version is its digest, never an mtime. The compiler module is loaded once per
 *      content (its input digest): a compiler replaced at the same path is loaded again and everything the old one
 *      made is dropped (program-cache.ts). This program is one file, a tool of the action: Bazel 7 starts a new
 *      worker for a new one; Bazel 4.2.3 keeps the old one, which answers through a worker of the new file
 *      (protocol.ts).
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
 * - One-shot, with `--snapshot BLOB` (snapshot.ts: TypeScript loaded, the default lib and @types/node parsed), it
 *   runs the compile in a Node started from that snapshot (`node --snapshot-blob BLOB tsc_worker.js ARGS...`), which
 *   takes the compiler only if its typescript.js has the same SHA-256 as the action's, and a parsed file only for the
 *   same path, text and parse options (`parseKey`, the worker's rule in 2): the same answer for about half the CPU
 *   (bench P17).
 *   A snapshot Node refuses (made by another Node binary or with other V8 flags, e.g. NODE_OPTIONS) is reported in
 *   one line and the compile runs here without it. A worker ignores the argument (it loads the compiler once).
 * - Errors are tsc's own lines (`file(line,col): error TSnnnn: message`), paths relative to the working directory
 *   (no sandbox or execroot path); an import of a package that cannot be found gets a hint naming the dep to add, an
 *   untyped package one naming its `@types` package or how to declare the module. The program's own errors (bad
 *   arguments, a package that is not TypeScript) are one line, `tsc_worker: MESSAGE`, from its one error boundary
 *   (`main` one-shot, protocol.ts's `serveWorker` per request).
 * - Memory: at most MAX_STATES targets, fewer when the heap passes PIPELINE_TSC_WORKER_MAX_HEAP_MB (least recently
 *   used go first; an evicted target compiles from scratch). PIPELINE_TSC_WORKER_STATS=1 adds a line saying how many
 *   targets and how much live heap each response leaves, and to a compile started from the snapshot one saying what
 *   it took from it (for tests).
 *
 * The files: this one (the modes: one-shot, from the snapshot, worker), args.ts (the arguments), compile.ts (one
 * compile with the compiler API), inputs.ts (the input view, 1), program-cache.ts (what is kept between requests, 2
 * and 3; memory), compilers.ts (which compiler), native.ts (TypeScript 7's native one), resident.ts (its compiler kept
 * between requests, watch-log.ts its output) and tree.ts (the trees TypeScript 7 runs in).
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs } from "./args";
import { compile, compileRequest } from "./compile";
import { preloaded } from "./preloaded";
import { evict, fromSnapshot, liveHeap, targetCount } from "./program-cache";
import { absolute } from "./inputs";
import { readFlagFiles, serveWorker, type WorkResult } from "./protocol";
import { stopAllResidents } from "./resident";

/**
 * A worker: each request compiles one target, with the inputs Bazel names (their digests key the shared state). When
 * its stdin closes, its resident compilers are stopped, so that nothing keeps the process alive.
 */
async function runWorker(): Promise<void> {
  await serveWorker("tsc_worker", async (req) => {
    const base = req.sandboxDir ? resolve(req.sandboxDir) : process.cwd();
    const inputs = new Map<string, string>();
    for (const [p, d] of req.inputs) inputs.set(absolute(base, p), d);
    // Bazel expands the flag file into the request itself (its lines may start with "@", as labels do).
    const result = await compileRequest(req.args, req.inputs.size ? inputs : undefined);
    evict();
    if (process.env.PIPELINE_TSC_WORKER_STATS === "1") {
      result.output += `tsc_worker: ${targetCount()} targets in memory, heap ${Math.round(liveHeap() / 2 ** 20)} MB\n`;
    }
    return result;
  });
  await stopAllResidents();
}

/**
 * A one-shot compile in a Node started from the compiler snapshot `blob` (the header): its exit code, or, when Node
 * refused the snapshot, the line saying so (the compile is then to run here).
 */
function compileFromSnapshot(blob: string, argv: string[]): { code: number } | { refused: string } {
  const child = spawnSync(process.execPath, [...process.execArgv, "--snapshot-blob", blob, process.argv[1], ...argv], {
    stdio: ["ignore", "inherit", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
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

/** One compile, one-shot: from the compiler snapshot when the arguments name one and this process is not its own. */
function compileOnce(argv: string[]): WorkResult {
  const args = readFlagFiles(argv);
  const blob = preloaded() ? "" : parseArgs(args).snapshot;
  const fromBlob = blob ? compileFromSnapshot(blob, argv) : { refused: "" };
  if ("code" in fromBlob) return { code: fromBlob.code, output: "" };
  const result = compile(args, undefined);
  result.output = fromBlob.refused + result.output;
  const snapshot = preloaded();
  if (snapshot && process.env.PIPELINE_TSC_WORKER_STATS === "1") {
    const took = fromSnapshot.compiler ? "the compiler" : "not the compiler";
    result.output += `tsc_worker: from the compiler snapshot: ${took}, ${fromSnapshot.files} of its ${snapshot.parsed.size} parsed files\n`;
  }
  return result;
}

/** The program: `--persistent_worker` serves requests until stdin closes; else one compile. The one-shot error boundary. */
export function main(): void {
  const argv = process.argv.slice(2);
  if (argv.includes("--persistent_worker")) {
    void runWorker();
    return;
  }
  let result: WorkResult;
  try {
    result = compileOnce(argv);
  } catch (e) {
    result = { code: 1, output: `tsc_worker: ${e instanceof Error ? e.message : String(e)}\n` };
  }
  process.stderr.write(result.output);
  process.exitCode = result.code;
}
