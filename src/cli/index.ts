/**
 * The CLI's single error boundary: runs a command and turns every outcome into an exit code.
 *   0   success
 *   1   a PipelineError: bad input, registry refused, ... (message `error[CODE]: ...` on stderr)
 *   2   usage error (unknown command, bad flag): `error[E_USAGE]: ...`, the same format as every other error
 *   70  internal error (a bug: please report)
 *   N   `bazel-run`: the launch script's own exit code
 * Global flags, anywhere before `--`: `--version`/`-V`, and `-v`/`--debug` (registry requests logged on stderr,
 * and a failure's stack and causes printed after its message).
 */
import { OptionError, PipelineError } from "../errors";
import { VERSION } from "../version";
import { runCommand, UsageError } from "./main";
import { type CliIo, processIo } from "./io";

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** `--version` (or `-V`) anywhere before `--` prints the version instead of running anything. */
function wantsVersion(argv: string[]): boolean {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  return argv.slice(0, end).some((a) => a === "--version" || a === "-V");
}

const DEBUG_FLAGS = ["-v", "--debug"];

/** `argv` without `-v`/`--debug` before `--`, and whether one was there. */
function takeDebug(argv: string[]): { argv: string[]; debug: boolean } {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  const head = argv.slice(0, end).filter((a) => !DEBUG_FLAGS.includes(a));
  return { argv: [...head, ...argv.slice(end)], debug: head.length !== end };
}

/** The stack of `e` and of each `cause` below it. */
function causeChain(e: unknown): string[] {
  const lines: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 10; c = (c as { cause?: unknown }).cause, depth++) {
    lines.push(`${depth ? "caused by: " : ""}${c instanceof Error ? (c.stack ?? String(c)) : String(c)}`);
  }
  return lines;
}

export async function runCli(rawArgv: string[], rawIo: CliIo = processIo()): Promise<number> {
  if (wantsVersion(rawArgv)) {
    rawIo.stdout(`pipeline ${VERSION} (rules_pipeline, node ${process.versions.node})`);
    return 0;
  }
  const { argv, debug } = takeDebug(rawArgv);
  const io: CliIo = debug ? { ...rawIo, debug: (line) => rawIo.stderr(`debug: ${line}`) } : rawIo;
  try {
    return await runCommand(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`error[E_USAGE]: ${e.message}`);
      io.stderr("run `pipeline --help` for usage");
      return EXIT_USAGE;
    }
    if (e instanceof OptionError) {
      // A library option reached through a flag of the same name: say it as the user typed it.
      io.stderr(`error[E_USAGE]: --${e.option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${e.problem}`);
      return EXIT_USAGE;
    }
    if (e instanceof PipelineError) {
      io.stderr(`error[${e.code}]: ${e.message}`);
      if (debug) for (const line of causeChain(e)) io.stderr(`debug: ${line}`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr(`internal error: ${err?.stack ? err.stack : String(e)}`);
    io.stderr(`This is a bug in rules_pipeline ${VERSION} (node ${process.versions.node}): please report it with the command you ran.`);
    return EXIT_INTERNAL;
  }
}
