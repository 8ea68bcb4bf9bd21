/**
 * A map's indexes run on this machine's threads: `parallelism` at a time, each in a thread of its own with the task
 * loaded (map-thread.ts) and the same chunk runner as the map worker inside an image (map-chunk.ts), under the local
 * schedule's Indexed Job meaning (map-schedule.ts). What `pipeline map --on inprocess` (src/map/inprocess.ts) and
 * runMap inside a pod without a cluster to spread over (map-in-image.ts) run. What the task prints goes to `output` as
 * it comes; the last lines of a failed attempt's output are kept for the failure's message.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { type ChunkEvent, type ItemFailure, type MapPlan, runChunk } from "./map-chunk";
import { MapRunError } from "./map-error";
import { type IndexFailure, schedule } from "./map-schedule";
import { TaskLoadError, TaskThread } from "./map-thread";
import type { ObjectStore } from "./object-store";

const TAIL_LINES = 20;

export interface ThreadsRun {
  store: ObjectStore;
  plan: MapPlan;
  planHex: string;
  /** `task pkg/score.js#score`, for messages. */
  what: string;
  /** The task module's file on this machine. */
  file: string;
  parallelism: number;
  retries: number;
  signal: AbortSignal;
  /** Node options for the task's threads (runMap passes its own: `--preserve-symlinks`, the launchers' preload). */
  execArgv?: string[];
  /** Where the task's output goes (default: this process's stderr). */
  output?: (text: string) => void;
  event?(e: ChunkEvent): void;
  retry?(index: number, attempt: number, message: string): void;
  failed?(f: ItemFailure): void;
}

/** The index that failed for good: the item's failure when there is one, and the last lines of its output. */
export interface ThreadsFailure {
  attempts: number;
  failure?: ItemFailure;
  log: string[];
  message: string;
}

/** Keeps the last lines of what passed through it. */
class Tail {
  private lines: string[] = [];
  private partial = "";
  add(text: string): void {
    const parts = (this.partial + text).split("\n");
    this.partial = parts.pop() ?? "";
    this.lines.push(...parts);
    if (this.lines.length > TAIL_LINES) this.lines = this.lines.slice(-TAIL_LINES);
  }
  take(): string[] {
    const out = [...this.lines, ...(this.partial ? [this.partial] : [])].slice(-TAIL_LINES);
    this.lines = [];
    this.partial = "";
    return out;
  }
}

/** Checks, before anything runs, that the task loads: a missing module or export is E_MAP_TASK_NOT_FOUND naming it. */
export async function checkTaskLoads(
  file: string,
  exportName: string,
  what: string,
  execArgv?: string[],
): Promise<void> {
  let t: TaskThread;
  try {
    t = await TaskThread.start(file, exportName, what, { execArgv, output: () => {} });
  } catch (e) {
    if (e instanceof TaskLoadError) throw new MapRunError("E_MAP_TASK_NOT_FOUND", e.message);
    throw e;
  }
  await t.stop();
}

/** Runs every index of the plan; resolves to undefined when all succeeded, else to the one that failed for good. */
export async function runInThreads(o: ThreadsRun): Promise<ThreadsFailure | undefined> {
  const idle: { thread: TaskThread; tail: Tail }[] = [];
  const all: TaskThread[] = [];
  const take = async () => {
    const ready = idle.pop();
    if (ready) return ready;
    const tail = new Tail();
    const thread = await TaskThread.start(o.file, o.plan.task.export, o.what, {
      execArgv: o.execArgv,
      output: (chunk) => {
        const text = chunk.toString("utf8");
        tail.add(text);
        (o.output ?? ((s: string) => process.stderr.write(s)))(text);
      },
    });
    all.push(thread);
    return { thread, tail };
  };
  const failures = new Map<number, { failure: ItemFailure; log: string[] }>();
  try {
    const failed: IndexFailure | undefined = await schedule({
      indexes: o.plan.chunks.length,
      parallelism: o.parallelism,
      retries: o.retries,
      signal: o.signal,
      onRetry: o.retry,
      attempt: async (index, _attempt, signal) => {
        const lane = await take();
        lane.tail.take();
        const stopOnAbort = () => void lane.thread.stop();
        signal.addEventListener("abort", stopOnAbort, { once: true });
        try {
          const failure = await runChunk({
            store: o.store,
            plan: o.plan,
            planHex: o.planHex,
            chunk: index,
            thread: lane.thread,
            event: o.event,
          });
          if (!failure) return { ok: true };
          if (signal.aborted) return { ok: false, retry: false, message: "stopped" };
          failures.set(index, { failure, log: lane.tail.take() });
          o.failed?.(failure);
          return { ok: false, retry: failure.retry, message: failure.message };
        } finally {
          signal.removeEventListener("abort", stopOnAbort);
          idle.push(lane);
        }
      },
    });
    if (!failed) return undefined;
    const f = failures.get(failed.index);
    return { attempts: failed.attempts, failure: f?.failure, log: f?.log ?? [], message: failed.message };
  } finally {
    await Promise.all(all.map((t) => t.stop()));
  }
}
