/**
 * One compile with TypeScript 7's native `tsc` (TypeScript 7 ships no JavaScript compiler API): `tsc -p CONFIG
 * --outDir OUT`, then the declared outputs (and only those) hard links to tsc's files (copies across devices), as the
 * in-process compile writes only them; in a worker each file tsc wrote is first moved out of OUT (answer, KEPT), so
 * that tsc never writes into a file an answer handed out. It runs in a tree of links (tree.ts): in a worker the
 * target's own, kept between requests and made to hold each request's inputs alone (`syncTree`), so that it sees what
 * a sandboxed one-shot compile sees and answers the same; one-shot, links to the working directory's entries; in both
 * with the compile's `node_modules` (`linkNodeModules`), under the working directory, never the system's temporary
 * directory, and named so that tsc sees nothing above it (HIDDEN_CWD there). One-shot, OUT is temporary and the compile starts from nothing. In a
 * worker the compiler keeps its state as 5.x's and 6.x's program per target does, through what TypeScript 7 ships for
 * it: the target's resident `tsc --watch` (resident.ts, `compileNativeResident`), its program in memory; where that
 * cannot answer, `tsc --incremental`, whose `.tsbuildinfo` and OUT stay beside the target's tree; a run that did not
 * end with tsc's own answer (a signal, a missing output) drops them (the worker differential and fuzzer check that
 * this state never changes an answer). tsc runs on one thread (`--singleThreaded`), the one CPU Bazel counts for the
 * action, unless `--threads compiler` (`--@rules_pipeline//bazel:tsc_threads=compiler`) leaves it its default (and
 * then runs one-shot: the resident compile is single-threaded only).
 */
import { spawnSync } from "node:child_process";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Options } from "./args";
import { esModuleSource, importHint, moduleFormatProblem } from "./compilers";
import type { WorkResult } from "./protocol";
import { pauseResident, residentBuild, residentEnabled, resumeResident, SENTINEL, stopResident } from "./resident";
import { copyChanged, linkNodeModules, oneShotDir, runIn, syncTree, type Tree, workerTree } from "./tree";

/** Files TypeScript reads as part of a program (sources, declarations, JavaScript), never a package.json or config. */
const PROGRAM_FILE = /\.(?:[cm]?[tj]sx?)$/;

/**
 * Whether a request's `inputs` (path → digest) differ from the last one's (`before`) only in the contents of program
 * files: the same paths, every digest known, and every changed one a program file's.
 */
function onlyProgramFilesChanged(before: Map<string, string> | undefined, inputs: Map<string, string>): boolean {
  if (!before || before.size !== inputs.size) return false;
  for (const [p, digest] of inputs) {
    const was = before.get(p);
    if (was === undefined || !digest) return false;
    if (was !== digest && !PROGRAM_FILE.test(p)) return false;
  }
  return true;
}

/** A worker's answers of `--showConfig` (the effective `module`), by compiler, config and the .json inputs' digests. */
const shownModules = new Map<string, string>();

/** What the rules' generated tsconfig holds that the native compile reads: its outDir and its root files. */
function generatedConfig(project: string): { outDir: string; files: string[] } {
  const config: unknown = JSON.parse(readFileSync(project, "utf8"));
  const options = config && typeof config === "object" && "compilerOptions" in config ? config.compilerOptions : {};
  const outDir = options && typeof options === "object" && "outDir" in options ? options.outDir : undefined;
  const files = config && typeof config === "object" && "files" in config ? config.files : undefined;
  if (typeof outDir !== "string" || !Array.isArray(files) || !files.every((f) => typeof f === "string"))
    throw new Error(`${project} is not a tsconfig the rules generated: it lacks compilerOptions.outDir or files`);
  return { outDir, files };
}

/** The effective `module` option, lower case, as the native compiler reads the config (`--showConfig`), if it says. */
function effectiveModule(stdout: string): string | undefined {
  try {
    const shown: unknown = JSON.parse(stdout);
    const options =
      shown && typeof shown === "object" && "compilerOptions" in shown ? shown.compilerOptions : undefined;
    const module = options && typeof options === "object" && "module" in options ? options.module : undefined;
    return String(module ?? "").toLowerCase() || undefined;
  } catch {
    return undefined; // The compile reports the config's errors.
  }
}

/** A native compile made ready: where tsc runs, its arguments, and what its answer is checked and copied against. */
interface Prepared {
  here: string;
  /** The generated config, absolute. */
  project: string;
  config: { outDir: string; files: string[] };
  outDir: string;
  cwd: string;
  out: string;
  inTree: ReturnType<typeof runIn>;
  /** tsc's arguments (`-p` first), and the worker's `--incremental` state ones. */
  tscArgs: string[];
  incremental: string[];
  /** The worker's incremental state (its `tsbuildinfo` and `out`), and how it is dropped (unless tsc answered). */
  state: string;
  dropState: () => void;
  tree: Tree | undefined;
}

/**
 * The tree a compile runs in, made to hold the request's inputs (a worker's own for the target) or links to the
 * working directory's entries (one-shot, in `tmp`), and tsc's arguments; or the answer already (a module-format
 * problem). A program file whose digest changed is copied into a worker's tree (tree.ts copyChanged), for the
 * resident compiler.
 */
function prepare(
  native: string,
  o: Options,
  inputs: Map<string, string> | undefined,
  tmp: string,
): Prepared | WorkResult {
  const here = process.cwd();
  const project = resolve(o.project);
  const config = generatedConfig(project);
  const outDir = resolve(dirname(project), config.outDir);
  let cwd = join(tmp, "root");
  let out = join(tmp, "out");
  /** The worker's incremental state, dropped unless tsc answered. */
  let state = "";
  const dropState = () => state && rmSync(state, { recursive: true, force: true });
  const incremental: string[] = [];
  let tree: Tree | undefined;
  if (inputs) {
    tree = workerTree(project);
    const before = tree.inputs;
    // Until the tree holds the request's inputs: a sync cut short leaves nothing to compare the next one with.
    tree.inputs = undefined;
    syncTree(tree, inputs, here, true, before);
    tree.nodeModules = linkNodeModules(tree.root, o.nodeModules, tree.nodeModules);
    cwd = tree.root;
    state = tree.state;
    // tsc --incremental rechecks changed files, but does not look again for an import it could not resolve, nor
    // resolve again when a package.json or a config changed (the worker differential's "add dep" steps): only
    // changed contents of program files keep the state (and the resident compiler).
    if (!onlyProgramFilesChanged(before, inputs)) dropState();
    else if (before) copyChanged(tree, changedInputs(before, inputs), here);
    // The request's own map, which nothing changes after it was made (worker.ts makes one a request): not a copy.
    tree.inputs = inputs;
    out = join(state, "out");
    incremental.push("--incremental", "--tsBuildInfoFile", join(state, "tsbuildinfo"));
  } else {
    mkdirSync(cwd);
    for (const entry of readdirSync(here)) symlinkSync(join(here, entry), join(cwd, entry));
    linkNodeModules(cwd, o.nodeModules, undefined);
  }
  // The project by its path in the tree as tsc names the tree (HIDDEN_CWD); outputs by their real paths.
  const inTree = runIn(cwd);
  const tscArgs = ["-p", join(inTree.name, relative(here, project)), "--outDir", out, "--pretty", "false"];
  if (o.threads !== "compiler") tscArgs.push("--singleThreaded");
  const read = (p: string) => {
    try {
      return readFileSync(join(cwd, p), "utf8");
    } catch {
      return undefined;
    }
  };
  const sources = config.files.map((f) => relative(here, resolve(dirname(project), f)));
  if (esModuleSource(sources, read)) {
    // Only where a source is in a "type": "module" package: the effective `module`, as the compiler reads it; in a
    // worker, asked again only when the compiler or a config (a .json input) changed.
    const key = inputs && [native, project, ...[...inputs].filter(([p]) => p.endsWith(".json")).flat()].join("\0");
    let module = key === undefined ? undefined : shownModules.get(key);
    if (module === undefined) {
      const shown = spawnSync(native, [...tscArgs, "--showConfig"], {
        ...inTree.options,
        encoding: "utf8",
        maxBuffer: 64 * 2 ** 20,
      });
      module = effectiveModule(shown.stdout);
      if (key !== undefined && module !== undefined) {
        if (shownModules.size >= 256) shownModules.clear();
        shownModules.set(key, module);
      }
    }
    const problem =
      module === undefined ? "" : moduleFormatProblem({ module, sources, read, label: o.label, tsconfig: o.tsconfig });
    if (problem) return { code: 1, output: problem };
  }
  return { here, project, config, outDir, cwd, out, inTree, tscArgs, incremental, state, dropState, tree };
}

/** The inputs whose digest changed since `before` (the same paths: onlyProgramFilesChanged). */
function changedInputs(before: Map<string, string>, inputs: Map<string, string>): Map<string, string> {
  const changed = new Map<string, string>();
  for (const [p, digest] of inputs) if (before.get(p) !== digest) changed.set(p, digest);
  return changed;
}

/**
 * The answer from what tsc said (`said`, its lines) and whether it succeeded (`failed`: why not, when tsc said
 * nothing): tsc's lines with paths relative to the working directory and import hints, and the declared outputs
 * linked to what the compile wrote.
 */
function answer(o: Options, p: Prepared, said: string, ok: boolean, failed: string): WorkResult {
  let output = "";
  // Paths relative to the working directory, as tsc's own file names are: a message names no temporary tree, and
  // no execroot or sandbox either (tsc follows links: a package's file is named by its real path there).
  for (const dir of new Set([p.inTree.name, p.cwd, p.here, realpathSync(p.here)]))
    said = said.split(`${dir}${sep}`).join("");
  for (const line of said.split("\n")) {
    if (!line) continue;
    output += `${line}\n`;
    const m = /error TS(\d+): (.*)$/.exec(line);
    if (m) output += importHint(Number(m[1]), m[2], o);
  }
  if (!ok) return { code: 1, output: output || failed };
  const dirs = new Set<string>();
  const dirMade = (dir: string) => {
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
  };
  // With state (a worker's), each output tsc wrote moves to KEPT, which holds the last one written of each: a build
  // writes only what changed, and tsc then writes every file anew, never into one an answer handed out (linked).
  const kept = p.state ? join(p.state, KEPT) : undefined;
  for (const e of o.expect) {
    const abs = resolve(e);
    const rel = relative(p.outDir, abs);
    let from = join(p.out, rel);
    if (kept) {
      dirMade(dirname(join(kept, rel)));
      from = keepWritten(from, join(kept, rel));
    }
    dirMade(dirname(abs));
    try {
      linkOrCopy(from, abs);
    } catch (err) {
      if (existsSync(from)) throw err;
      p.dropState();
      output += `error: ${o.label}: the compiler produced no ${relative(p.here, abs)} (is the source excluded by the tsconfig, or an output name clash?)\n`;
      return { code: 1, output };
    }
  }
  return { code: 0, output };
}

/** Where a worker's state keeps the outputs of its target's last answer (answer): hard links to them. */
const KEPT = "kept";

/**
 * Moves `written` (an output tsc wrote in this build, if it did) to `keep`, over the one an earlier build wrote;
 * returns `keep`. A rename: the file the last answer handed out is left as it is, whatever tsc writes next.
 */
function keepWritten(written: string, keep: string): string {
  try {
    renameSync(written, keep);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return keep;
}

/**
 * `to` as a hard link to `from` (no bytes written: 62 outputs of ~1-3 KB took ~0.9 ms, against ~3.8 ms read and
 * written, more while the disk is busy), or a copy where the file system refuses the link (another device).
 */
function linkOrCopy(from: string, to: string): void {
  const link = (): NodeJS.ErrnoException | undefined => {
    try {
      linkSync(from, to);
      return undefined;
    } catch (e) {
      return e as NodeJS.ErrnoException;
    }
  };
  let failed = link();
  // An output of an earlier run (Bazel deletes them first, and makes them read-only): replaced, never written through.
  if (failed?.code === "EEXIST") {
    rmSync(to, { force: true });
    failed = link();
  }
  if (!failed) return;
  if (!["EXDEV", "EPERM", "EMLINK", "ENOTSUP", "EOPNOTSUPP"].includes(failed.code ?? "")) throw failed;
  writeFileSync(to, readFileSync(from));
}

/** tsc run once in the prepared tree: its answer. */
function runOnce(native: string, o: Options, p: Prepared): WorkResult {
  const run = spawnSync(native, [...p.tscArgs, ...p.incremental], {
    ...p.inTree.options,
    encoding: "utf8",
    maxBuffer: 256 * 2 ** 20,
  });
  // tsc's own answers: 0, 1 (errors, nothing emitted), 2 (errors, outputs emitted). Anything else may have left a
  // half-written .tsbuildinfo.
  if (run.error || run.signal || ![0, 1, 2].includes(run.status ?? -1)) p.dropState();
  if (run.error) return { code: 1, output: `tsc_worker: ${o.label}: running ${native}: ${run.error.message}\n` };
  const stopped = run.signal ? `tsc_worker: ${o.label}: ${native} was stopped by ${run.signal}\n` : "";
  return answer(
    o,
    p,
    `${run.stdout}${run.stderr}${stopped}`,
    run.status === 0,
    `tsc_worker: ${o.label}: ${native} exited with ${run.status}\n`,
  );
}

/**
 * One compile with TypeScript 7's native tsc (see the header), run once.
 * @param native the tsc binary
 * @param inputs a worker request's inputs (absolute path → digest), else undefined
 */
export function compileNative(native: string, o: Options, inputs: Map<string, string> | undefined): WorkResult {
  const tmp = oneShotDir();
  try {
    const p = prepare(native, o, inputs, tmp);
    return "code" in p ? p : runOnce(native, o, p);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * A worker's compile with TypeScript 7's native tsc: answered by the target's resident compiler (resident.ts) where
 * it can, else run once as compileNative. `stats`: a line saying which answered.
 */
export async function compileNativeResident(
  native: string,
  o: Options,
  inputs: Map<string, string>,
): Promise<WorkResult> {
  const key = resolve(o.project);
  // A change beyond program files' contents: the target's compiler is stopped before its tree and state change;
  // otherwise paused (resident.ts) until the tree holds the request's files.
  if (!onlyProgramFilesChanged(workerTree(key).inputs, inputs)) await stopResident(key);
  const resident = o.threads !== "compiler" && residentEnabled(key);
  const paused = resident && (await pauseResident(key));
  const tmp = oneShotDir();
  try {
    const p = prepare(native, o, inputs, tmp);
    if ("code" in p) return p;
    const build =
      resident && !inputs.has(join(p.here, SENTINEL))
        ? await residentBuild(
            key,
            {
              native,
              project: relative(p.here, p.project),
              args: [...p.tscArgs.slice(2), ...p.incremental],
              cwd: p.cwd,
              name: p.inTree.name,
              env: p.inTree.options.env ?? process.env,
              files: p.config.files,
              buildInfo: join(p.state, "tsbuildinfo"),
              state: p.state,
            },
            paused,
          )
        : undefined;
    const stats = process.env.PIPELINE_TSC_WORKER_STATS === "1";
    if (build) {
      const result = answer(o, p, build.lines.join("\n"), build.errors === 0, "");
      if (stats) result.output += "tsc_worker: answered by the resident compiler\n";
      return result;
    }
    // The resident compiler (stopped, if it was not already) wrote the state last: the one-shot compile starts from none.
    if (resident) {
      await stopResident(key);
      p.dropState();
    }
    const result = runOnce(native, o, p);
    if (stats) result.output += "tsc_worker: answered by a one-shot compile\n";
    return result;
  } finally {
    resumeResident(key);
    rmSync(tmp, { recursive: true, force: true });
  }
}
