/**
 * ServerAvailableInterpreter: the deployment's code runs with a Node already on this machine, as plain host
 * processes (no container, no isolation). `command` (when given) is the argv, its first element `node` meaning
 * `nodePath`; otherwise `nodePath ARGS`. The host environment is inherited, the deployment's env added.
 * Stopping: SIGTERM, then SIGKILL after the grace period (the kill signal: at once); each process runs in its
 * own process group, so the whole group is signalled.
 */
import { spawn } from "node:child_process";
import { PipelineError } from "../errors";
import { prefixedLines } from "../lines";
import { exitStatus, terminateOnRunAbort } from "../process/signals";
import { withoutSecrets } from "./repositories";

export interface HostRunOptions {
  nodePath: string;
  command?: string[];
  args: string[];
  env: Record<string, string>;
  cwd: string;
  replicas: number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
  kill?: AbortSignal;
  stopTimeoutMs?: number;
}

export async function runOnHost(o: HostRunOptions): Promise<{ exitCode: number }> {
  const argv = o.command?.length ? [...o.command, ...o.args] : [o.nodePath, ...o.args];
  if (argv[0] === "node") argv[0] = o.nodePath;
  const stdout = o.stdout ?? process.stdout;
  const stderr = o.stderr ?? process.stderr;
  let first = 0;
  const one = async (i: number): Promise<void> => {
    const out = o.replicas > 1 ? prefixedLines(`[${i}] `, stdout) : undefined;
    const err = o.replicas > 1 ? prefixedLines(`[${i}] `, stderr) : undefined;
    const child = spawn(argv[0], argv.slice(1), {
      cwd: o.cwd,
      env: { ...withoutSecrets(process.env), ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout.pipe(out ?? stdout, { end: false });
    child.stderr.pipe(err ?? stderr, { end: false });
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const unwire = terminateOnRunAbort(o, signalGroup);
    try {
      const code = await new Promise<number>((resolve, reject) => {
        child.on("error", (e) => reject(new PipelineError("E_RUN_HOST", `cannot start ${argv[0]}: ${e.message}`)));
        child.on("close", (c, sig) => resolve(exitStatus(c, sig)));
      });
      if (code !== 0 && first === 0) first = code;
    } finally {
      unwire();
      await Promise.all([out, err].map((s) => (s ? new Promise<void>((res) => s.end(res)) : undefined)));
    }
  };
  const results = await Promise.allSettled(Array.from({ length: o.replicas }, (_, i) => one(i)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return { exitCode: first };
}
