/**
 * The CLI's single error boundary: runs a command and turns every outcome into an exit code.
 *   0   success
 *   1   a PipelineError: bad input, registry refused, ... (message `error[CODE]: ...` on stderr)
 *   2   usage error (unknown command, bad flag)
 *   70  internal error (a bug: please report)
 *   N   `bazel-run`: the launch script's own exit code
 */
import { PipelineError } from "../errors";
import { VERSION } from "../version";
import { runCommand, UsageError } from "./main";
import { CliIo, processIo } from "./io";

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** `--version` (or `-V`) anywhere before `--` prints the version instead of running anything. */
function wantsVersion(argv: string[]): boolean {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  return argv.slice(0, end).some((a) => a === "--version" || a === "-V");
}

export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  if (wantsVersion(argv)) {
    io.stdout(`pipeline ${VERSION} (rules_pipeline, node ${process.versions.node})`);
    return 0;
  }
  try {
    return await runCommand(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`pipeline: ${e.message}`);
      io.stderr("run `pipeline --help` for usage");
      return EXIT_USAGE;
    }
    if (e instanceof PipelineError) {
      io.stderr(`error[${e.code}]: ${e.message}`);
      return e.exitCode;
    }
    const err = e as Error;
    io.stderr(`internal error: ${err && err.stack ? err.stack : String(e)}`);
    io.stderr(`This is a bug in rules_pipeline ${VERSION} (node ${process.versions.node}): please report it with the command you ran.`);
    return EXIT_INTERNAL;
  }
}
