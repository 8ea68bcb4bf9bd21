/**
 * Starting the push daemon (server.ts) after a push the launcher ran itself, so that the next `bazel run
 * //pkg:NAME_push` of the same output base needs no Node of its own. Nothing starts when $PIPELINE_PUSH_DAEMON is
 * "0", in a CI job ($CI set, unless $PIPELINE_PUSH_DAEMON is "1"), outside a launcher (no PIPELINE_CLI / PIPELINE_CLI_LOADER), inside the daemon, or while a daemon of the
 * bundle runs. The daemon is detached, its output discarded, and gets only the variables a process start reads
 * (protocol.ts STARTUP_VARIABLES) and where it keeps its state: never the push's passwords or tokens.
 */
import { spawn } from "node:child_process";
import { isMainThread } from "node:worker_threads";
import { cacheRoot } from "../../cache/layout";
import { pidAlive } from "../../process/owner";
import { loaderEnv, readState, STARTUP_VARIABLES, stateFile } from "./protocol";

export const ENV_PUSH_DAEMON = "PIPELINE_PUSH_DAEMON";
export const ENV_PUSH_DAEMON_IDLE = "PIPELINE_PUSH_DAEMON_IDLE_SECONDS";

/** What the daemon's process gets of the launcher's environment. */
const PASSED = [
  ...STARTUP_VARIABLES,
  "PATH",
  "LANG",
  "LC_ALL",
  "TZ",
  "USER",
  "LOGNAME",
  "TMPDIR",
  "XDG_CACHE_HOME",
  "PIPELINE_CACHE_DIR",
  ENV_PUSH_DAEMON_IDLE,
];

/**
 * Why a push that ran in its own Node leaves no daemon behind, by the settings alone, or undefined when it may: not
 * when $PIPELINE_PUSH_DAEMON is "0", and not in a CI job ($CI set and not "false" or "0") unless it is "1": a CI job
 * pushes and ends, and no daemon is left waiting for a push that will not come.
 */
export function noDaemonReason(env: NodeJS.ProcessEnv): string | undefined {
  const setting = env[ENV_PUSH_DAEMON];
  if (setting === "0") return `${ENV_PUSH_DAEMON}=0`;
  if (setting === "1" || !env.CI || env.CI === "false" || env.CI === "0") return undefined;
  return `a CI job: $CI is set; ${ENV_PUSH_DAEMON}=1 starts one`;
}

export function startPushDaemon(env: NodeJS.ProcessEnv, debug?: (line: string) => void): void {
  const bundle = env.PIPELINE_CLI;
  const loader = env.PIPELINE_CLI_LOADER;
  if (!isMainThread || !bundle || !loader) return;
  const reason = noDaemonReason(env);
  if (reason) {
    debug?.(`push daemon: none started (${reason})`);
    return;
  }
  const running = readState(stateFile(env, bundle));
  if (running && pidAlive(running.pid)) return;
  const seen = loaderEnv(env);
  const daemonEnv: Record<string, string> = {};
  for (const name of PASSED) if (seen[name] !== undefined) daemonEnv[name] = seen[name];
  // The daemon starts in "/": its cache root (its state file's directory) is the launcher's, absolute.
  daemonEnv.PIPELINE_CACHE_DIR = cacheRoot(env);
  try {
    spawn(process.execPath, [...process.execArgv, loader, bundle, "push-daemon", "--loader", loader], {
      detached: true,
      stdio: "ignore",
      cwd: "/",
      env: daemonEnv,
    }).unref();
  } catch {
    // The push is done; without a daemon the next one starts its own Node, as before.
  }
}
