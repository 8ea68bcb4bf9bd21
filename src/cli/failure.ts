/**
 * How a failure is told, once: the CLI's error boundary (run-cli.ts) and the launchers' preload (tools/preload.ts)
 * both end with reportFailure, so every error reads `error[CODE]: message` with the same exit codes, followed (but
 * for usage errors, which --help explains) by where the code is explained: `see docs/errors.md#e_code`
 * (docs/errors.md, generated from src/error-codes/; the anchor is GitHub's for the code's heading).
 */
import type { ErrorCode } from "../error-codes/catalogue";
import { OptionError, PipelineError } from "../errors";
import { VERSION } from "../version";
import { UsageError } from "./args";
import type { CliIo } from "./io";

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** The stack of `e` and of each `cause` below it. */
function causeChain(e: unknown): string[] {
  const lines: string[] = [];
  for (
    let c: unknown = e, depth = 0;
    c !== undefined && c !== null && depth < 10;
    c = (c as { cause?: unknown }).cause, depth++
  ) {
    lines.push(`${depth ? "caused by: " : ""}${c instanceof Error ? (c.stack ?? String(c)) : String(c)}`);
  }
  return lines;
}

/** The line after `error[CODE]: ...` that says where the code is explained. */
export function errorDocHint(code: ErrorCode): string {
  return `see docs/errors.md#${code.toLowerCase()}`;
}

/** Prints what went wrong on stderr and returns the exit code for it. */
export function reportFailure(e: unknown, io: CliIo, debug: boolean): number {
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
    if (e.code !== "E_USAGE") io.stderr(errorDocHint(e.code)); // a usage error's explanation is --help
    if (debug) for (const line of causeChain(e)) io.stderr(`debug: ${line}`);
    return e.exitCode;
  }
  const err = e as Error;
  io.stderr(`internal error: ${err?.stack ? err.stack : String(e)}`);
  io.stderr(
    `This is a bug in rules_pipeline ${VERSION} (node ${process.versions.node}): please report it with the command you ran.`,
  );
  return EXIT_INTERNAL;
}
