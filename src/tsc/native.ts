/**
 * One compile with TypeScript 7's native `tsc` (TypeScript 7 ships no JavaScript compiler API): `tsc -p CONFIG
 * --outDir OUT`, then the declared outputs (and only those) copied from OUT, as the in-process compile writes only
 * them. It runs in a tree of links (tree.ts): in a worker the target's own, kept between requests and made to hold
 * each request's inputs alone (`syncTree`), so that it sees what a sandboxed one-shot compile sees and answers the
 * same; one-shot, links to the working directory's entries; in both with the compile's `node_modules`
 * (`linkNodeModules`), under the working directory, never the system's temporary directory, and named so that tsc
 * sees nothing above it (HIDDEN_CWD there). One-shot, OUT is temporary and the compile starts from nothing. In a
 * worker the compiler keeps its state as 5.x's and 6.x's program per target does, through what TypeScript 7 ships for
 * it: `tsc --incremental`, whose `.tsbuildinfo` and OUT stay beside the target's tree; a run that did not end with
 * tsc's own answer (a signal, a missing output) drops them (the worker differential and fuzzer check that this state
 * never changes an answer). tsc runs on one thread (`--singleThreaded`), the one CPU Bazel counts for the action,
 * unless `--threads compiler` (`--@rules_pipeline//bazel:tsc_threads=compiler`) leaves it its default.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Options } from "./args";
import { esModuleSource, importHint, moduleFormatProblem } from "./compilers";
import type { WorkResult } from "./protocol";
import { linkNodeModules, oneShotDir, runIn, syncTree, workerTree } from "./tree";

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

/**
 * One compile with TypeScript 7's native tsc (see the header).
 * @param native the tsc binary
 * @param inputs a worker request's inputs (absolute path → digest), else undefined
 */
export function compileNative(native: string, o: Options, inputs: Map<string, string> | undefined): WorkResult {
  const here = process.cwd();
  const project = resolve(o.project);
  const config = generatedConfig(project);
  const outDir = resolve(dirname(project), config.outDir);
  const tmp = oneShotDir();
  try {
    // The tree it runs in: a worker's own for the target, made to hold this request's inputs; one-shot, links to the
    // entries of the working directory (already a sandbox, or the execroot). Either with the compile's node_modules.
    let cwd = join(tmp, "root");
    let out = join(tmp, "out");
    /** The worker's incremental state, dropped unless tsc answered. */
    let state = "";
    const dropState = () => state && rmSync(state, { recursive: true, force: true });
    const incremental: string[] = [];
    if (inputs) {
      const tree = workerTree(project);
      syncTree(tree, inputs, here);
      tree.nodeModules = linkNodeModules(tree.root, o.nodeModules, tree.nodeModules);
      cwd = tree.root;
      state = tree.state;
      // tsc --incremental rechecks changed files, but does not look again for an import it could not resolve, nor
      // resolve again when a package.json or a config changed (the worker differential's "add dep" steps): only
      // changed contents of program files keep the state.
      if (!onlyProgramFilesChanged(tree.inputs, inputs)) dropState();
      tree.inputs = new Map(inputs);
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
      // Only where a source is in a "type": "module" package: the effective `module`, as the compiler reads it.
      const shown = spawnSync(native, [...tscArgs, "--showConfig"], {
        ...inTree.options,
        encoding: "utf8",
        maxBuffer: 64 * 2 ** 20,
      });
      const module = effectiveModule(shown.stdout);
      const problem =
        module === undefined
          ? ""
          : moduleFormatProblem({ module, sources, read, label: o.label, tsconfig: o.tsconfig });
      if (problem) return { code: 1, output: problem };
    }
    const run = spawnSync(native, [...tscArgs, ...incremental], {
      ...inTree.options,
      encoding: "utf8",
      maxBuffer: 256 * 2 ** 20,
    });
    // tsc's own answers: 0, 1 (errors, nothing emitted), 2 (errors, outputs emitted). Anything else may have left a
    // half-written .tsbuildinfo.
    if (run.error || run.signal || ![0, 1, 2].includes(run.status ?? -1)) dropState();
    if (run.error) return { code: 1, output: `tsc_worker: ${o.label}: running ${native}: ${run.error.message}\n` };
    let output = "";
    // Paths relative to the working directory, as tsc's own file names are: a message names no temporary tree, and
    // no execroot or sandbox either (tsc follows links: a package's file is named by its real path there).
    let said = `${run.stdout}${run.stderr}`;
    for (const dir of new Set([inTree.name, cwd, here, realpathSync(here)])) said = said.split(`${dir}${sep}`).join("");
    for (const line of said.split("\n")) {
      if (!line) continue;
      output += `${line}\n`;
      const m = /error TS(\d+): (.*)$/.exec(line);
      if (m) output += importHint(Number(m[1]), m[2], o);
    }
    if (run.status !== 0) {
      if (run.signal) output += `tsc_worker: ${o.label}: ${native} was stopped by ${run.signal}\n`;
      return { code: 1, output: output || `tsc_worker: ${o.label}: ${native} exited with ${run.status}\n` };
    }
    for (const p of o.expect) {
      const abs = resolve(p);
      const made = join(out, relative(outDir, abs));
      if (!existsSync(made)) {
        dropState();
        output += `error: ${o.label}: the compiler produced no ${relative(here, abs)} (is the source excluded by the tsconfig, or an output name clash?)\n`;
        return { code: 1, output };
      }
      mkdirSync(dirname(abs), { recursive: true });
      // Bazel makes the outputs of an earlier run read-only: replace, never write through.
      rmSync(abs, { force: true });
      copyFileSync(made, abs);
    }
    return { code: 0, output };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
