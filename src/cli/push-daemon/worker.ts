/**
 * `pipeline push-daemon-worker` (internal): one push thread of the push daemon (server.ts). It loads the push
 * command, says it is ready, waits for its one request, takes the launcher's environment (a thread's process.env is
 * its own copy), sends everything written to stdout and stderr to the daemon in order, runs `pipeline bazel-push`
 * through the CLI's error boundary and ends with its exit code, running the exit hooks (src/process/exit.ts) as a
 * process would.
 */
import { parentPort } from "node:worker_threads";
import { PipelineError } from "../../errors";
import { usageError } from "../args";
import { processIo } from "../io";
import { INTERRUPT, type WorkerMessage, type WorkerRequest } from "./protocol";

type Write = (chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => boolean;

export async function pushDaemonWorker(): Promise<number> {
  const port = parentPort;
  if (!port)
    throw new PipelineError("E_USAGE", "push-daemon-worker runs only in a thread of the push daemon", { exitCode: 2 });
  // Loaded now: the launcher would otherwise wait for it. So are the modules a push loads on its way (the signing
  // key's reader, the provenance's lockfile digests, the SBOM's referrer), and the registry client runs once against
  // a stand-in in this thread (src/registry/warm.ts); a failed warm-up only leaves the push to run cold.
  await import("../commands/bazel-push.js");
  const { runCli } = await import("../run-cli.js");
  await Promise.all([
    import("../../sign/cosign-key.js"),
    import("../../sign/provenance.js"),
    import("../../sbom/attach.js"),
  ]);
  await (await import("../../registry/warm.js")).warmRegistryClient().catch(() => undefined);
  const req = await new Promise<WorkerRequest>((resolve) => {
    port.once("message", resolve);
    const ready: WorkerMessage = { ready: true };
    port.postMessage(ready);
  });
  // The launcher was interrupted (its connection closed): the push ends as the launcher's Node would on SIGINT with
  // nobody deciding otherwise, its exit hooks run (temporary files removed).
  port.on("message", (m: unknown) => {
    if (m === INTERRUPT) process.exit(130);
  });
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, req.env);
  const forward =
    (stream: "o" | "e"): Write =>
    (chunk, encoding, callback) => {
      const message: WorkerMessage = {
        stream,
        chunk: typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"),
      };
      port.postMessage(message);
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") queueMicrotask(() => done());
      return true;
    };
  process.stdout.write = forward("o");
  process.stderr.write = forward("e");
  process.stderr.isTTY = req.tty;
  process.stderr.columns = req.columns ?? 0;
  const code = await runCli(["bazel-push", ...req.args], {
    ...processIo(),
    isTTY: req.tty,
    readStdin: () => Promise.reject(usageError("a push served by the push daemon cannot read standard input")),
  });
  process.exit(code);
}
