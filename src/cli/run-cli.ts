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
import { VERSION } from "../version";
import { takeDebug } from "./debug-flag";
import { EXIT_ERROR, EXIT_INTERNAL, EXIT_USAGE, reportFailure } from "./failure";
import { runCommand } from "./main";
import { type CliIo, processIo } from "./io";

export { EXIT_ERROR, EXIT_INTERNAL, EXIT_USAGE };

/** `--version` (or `-V`) anywhere before `--` prints the version instead of running anything. */
function wantsVersion(argv: string[]): boolean {
  const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
  return argv.slice(0, end).some((a) => a === "--version" || a === "-V");
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
    return reportFailure(e, io, debug);
  }
}
