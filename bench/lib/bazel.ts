/** Bazel consumer workspaces for the benchmarks: the test fixture's, plus the environment and cleanup they need. */
import { spawn } from "node:child_process";
import { BAZEL } from "../../test/fixtures/bazel";
import { run, type RunResult } from "./measure";

export { BAZEL, makeConsumerWorkspace, QUIET, REPO_ROOT } from "../../test/fixtures/bazel";

/** The environment Bazel runs with: ours without SOURCE_DATE_EPOCH (P5 checks builds without it). */
export function bazelEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.SOURCE_DATE_EPOCH;
  return env;
}

export function bazel(ws: string, args: string[], env: NodeJS.ProcessEnv = bazelEnv()): Promise<RunResult> {
  return run(BAZEL, args, { cwd: ws, env });
}

export async function bazelOk(ws: string, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> {
  const r = await bazel(ws, args, env);
  if (r.code !== 0)
    throw new Error(
      `bazel ${args.join(" ")} in ${ws} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-6000)}`,
    );
  return r;
}

/**
 * Deletes the workspace's output base and stops its server (`clean --expunge` does both). No `shutdown` after it:
 * that would make a new output base holding only its lock file, left behind in ~/.cache/bazel for every workspace.
 */
export function expunge(ws: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(BAZEL, ["clean", "--expunge"], { cwd: ws, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    child.on("close", done);
    child.on("error", done);
  });
}
