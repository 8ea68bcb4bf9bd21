/**
 * The map worker: the program a map runs inside the pipeline's image, one process per index (a container of the
 * `container` target, a pod of the `kubernetes` target's Indexed Job). The rules bundle it into one file beside the
 * runtime library (`/app/node_modules/@rules_pipeline/runtime/map-worker.js`), so every image can run a map.
 *
 * Its environment says what to do:
 *   PIPELINE_MAP_STORE   the store: an absolute directory (mounted) or s3://BUCKET/PREFIX (AWS_* credentials)
 *   PIPELINE_MAP_PLAN    the plan's digest (hex): its header, blobs/sha256/<hex> in the store (map-plan-blobs.ts)
 *   JOB_COMPLETION_INDEX the chunk to run (Kubernetes sets it for an Indexed Job; PIPELINE_MAP_INDEX elsewhere)
 *   PIPELINE_MAP_APP_ROOT where task modules' paths start (default: the app root this file sits in)
 * It prints one `pipeline-map: {json}` line per item started and done on stdout (the caller's progress); the task's
 * own output goes to stderr. Exit code 0: every item of the chunk has a stored result; 1: an item failed in a way
 * another attempt may not repeat (it threw, timed out, crashed: retried up to the caller's --retries); 42
 * (EXIT_NOT_RETRIABLE, map-chunk.ts): it never will (the task does not load, an item does not decode, a result is not storable) —
 * the Job's podFailurePolicy fails the index at once.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { join, resolve } from "node:path";
import { EVENT_PREFIX, EXIT_NOT_RETRIABLE, runChunk } from "./map-chunk";
import { MapValueError } from "./map-codec";
import { readPlanChunk } from "./map-plan-blobs";
import { openStore } from "./map-store";
import { TaskLoadError, TaskThread } from "./map-thread";
import { SHA256_HEX_RE } from "./sha256-hex";

type Env = Record<string, string | undefined>;

/** Runs the worker with `env`; resolves to its exit code. Messages go to `err`, events to `out`. */
export async function runMapWorker(
  env: Env,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<number> {
  const location = env.PIPELINE_MAP_STORE ?? "";
  const planHex = env.PIPELINE_MAP_PLAN ?? "";
  const rawIndex = env.JOB_COMPLETION_INDEX ?? env.PIPELINE_MAP_INDEX ?? "";
  if (!location || !SHA256_HEX_RE.test(planHex) || !/^(0|[1-9][0-9]{0,8})$/.test(rawIndex)) {
    err(
      `map worker: expected PIPELINE_MAP_STORE, PIPELINE_MAP_PLAN (a sha256 hex) and JOB_COMPLETION_INDEX (an index), got ${JSON.stringify(location)}, ${JSON.stringify(planHex)}, ${JSON.stringify(rawIndex)}`,
    );
    return EXIT_NOT_RETRIABLE;
  }
  const chunk = Number(rawIndex);
  const store = await openStore(location, env);
  let plan: Awaited<ReturnType<typeof readPlanChunk>>;
  try {
    // The plan's header and this index's slice only (map-plan-blobs.ts).
    plan = await readPlanChunk(store, planHex, chunk);
  } catch (e) {
    if (!(e instanceof MapValueError)) throw e;
    err(`map worker: ${e.message}`);
    return EXIT_NOT_RETRIABLE;
  }
  const appRoot = env.PIPELINE_MAP_APP_ROOT || resolve(__dirname, "..", "..", "..");
  const what = `task ${plan.task.module}#${plan.task.export}`;
  let thread: TaskThread;
  try {
    thread = await TaskThread.start(join(appRoot, plan.task.module), plan.task.export, what);
  } catch (e) {
    if (!(e instanceof TaskLoadError)) throw e;
    err(`map worker: ${e.message}`);
    return EXIT_NOT_RETRIABLE;
  }
  try {
    const failure = await runChunk({
      store,
      plan,
      planHex,
      chunk: 0,
      thread,
      event: (e) => out(EVENT_PREFIX + JSON.stringify(e)),
    });
    if (!failure) return 0;
    err(`map worker: item ${failure.index} failed (${failure.kind}): ${failure.message}`);
    if (failure.stack) err(failure.stack);
    return failure.retry ? 1 : EXIT_NOT_RETRIABLE;
  } finally {
    await thread.stop();
  }
}

// Run as a program (node map-worker.js), not when imported (nothing else imports this file: the CLI's bundle would
// otherwise run it).
if (require.main === module) {
  // As a container's first process (PID 1) a signal without a handler is ignored: a pod being deleted (Ctrl-C on the
  // map, a drained node) would run on through its grace period. Stop at once: what is stored stays stored.
  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)
    process.on(signal, () => process.exit(code));
  runMapWorker(process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`map worker: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
