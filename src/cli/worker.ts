/**
 * The CLI as the rules' build actions run it (bazel/private/common/tools.bzl `run_cli_worker`: PipelineLayer, PipelineImage):
 *
 *   node pipeline_cli.js --persistent_worker   a persistent Bazel worker (proto protocol, src/tsc/protocol.ts):
 *                                              each request's arguments are one CLI run's (the flag file's lines)
 *   node pipeline_cli.js @FLAGFILE             the same run one-shot (workers off, or `--strategy=PipelineLayer=sandboxed`)
 *
 * A request runs through `runCli`, the single error boundary, with an io that collects its stdout and stderr lines
 * into the response's output; its exit code is the response's. A failing request (bad input, a usage error, a bug)
 * answers with its code and message, and the worker serves the next one. Only `layer` and `image` run in a worker
 * (their modules hold no state between runs: no signal or exit listener, no cache, no change of the environment or the
 * working directory; PIPELINE_CLI_WORKER_STATS=1 adds a line measuring that after each request, for tests).
 */
import { readdirSync } from "node:fs";
import { readFlagFiles, serveWorker, type WorkRequest, type WorkResult } from "../tsc/protocol";
import { outsideText, PipelineError } from "../errors";
import { reportFailure } from "./failure";
import { usageError } from "./args";
import { runCli } from "./run-cli";
import { type CliIo, processIo } from "./io";

/** The commands a worker serves: those the rules run with `supports-workers`. */
export const WORKER_COMMANDS = ["layer", "image"];

/**
 * Bazel's forms of a command line: `--persistent_worker` serves requests until stdin closes; a single `@FLAGFILE` runs
 * the file's lines. Anything else is not Bazel's (undefined: the caller runs it as it is).
 */
export function bazelAction(argv: string[]): Promise<number> | undefined {
  if (argv.includes("--persistent_worker")) return serveWorker("pipeline", answer).then(() => 0);
  if (argv.length === 1 && argv[0].startsWith("@")) {
    let args: string[];
    try {
      args = readFlagFiles(argv);
    } catch (e) {
      const problem = new PipelineError(
        "E_BAD_INPUT",
        `cannot read the flag file ${JSON.stringify(argv[0].slice(1))}: ${(e as Error).message}`,
      );
      return Promise.resolve(reportFailure(problem, processIo(), false));
    }
    return runCli(args);
  }
  return undefined;
}

/** One request: one CLI run, its lines collected in order. */
async function answer(req: WorkRequest): Promise<WorkResult> {
  const lines: string[] = [];
  const io: CliIo = {
    // Bazel prints the response's output on the terminal: every line as the CLI's own stderr gets it (io.ts).
    stdout: (line) => lines.push(outsideText(line)),
    stderr: (line) => lines.push(outsideText(line)),
    // A copy: a command that set a variable would otherwise change the next requests' environment.
    env: { ...process.env },
    cwd: process.cwd(),
    isTTY: false,
    readStdin: () =>
      Promise.reject(usageError("standard input is the worker protocol's: no command may read it in a worker")),
  };
  const command = req.args.find((a) => !a.startsWith("-"));
  const code =
    command !== undefined && WORKER_COMMANDS.includes(command)
      ? await runCli(req.args, io)
      : reportFailure(
          usageError(
            `the persistent worker runs only ${WORKER_COMMANDS.join(" and ")}, got ${command === undefined ? "no command" : JSON.stringify(command)}`,
          ),
          io,
          false,
        );
  if (process.env.PIPELINE_CLI_WORKER_STATS === "1") lines.push(await workerStats());
  return { code, output: lines.map((l) => `${l}\n`).join("") };
}

/**
 * What would grow if a command left state behind: listeners, open files, handles, the environment, the directory.
 * Measured once the requests still in flight (a stream's close the command did not wait for) have settled.
 */
async function workerStats(): Promise<string> {
  await new Promise((settled) => setTimeout(settled, 50));
  const listeners = ["SIGINT", "SIGTERM", "SIGHUP", "exit", "uncaughtException", "unhandledRejection"].map((e) =>
    process.listenerCount(e),
  );
  return [
    `pipeline worker ${process.pid}: listeners ${listeners.join(",")}`,
    `fds ${readdirSync("/proc/self/fd").length}`,
    `resources ${process.getActiveResourcesInfo().sort().join(",")}`,
    `env ${Object.keys(process.env).length}`,
    `cwd ${process.cwd()}`,
  ].join("; ");
}
