/**
 * The `inprocess` target of a map: the indexes run in this process, `parallelism` at a time, each in a thread of its
 * own with the task loaded (src/runtime/map-thread.ts) and the same chunk runner as the map worker inside an image
 * (src/runtime/map-chunk.ts), under the local schedule's Indexed Job meaning (schedule.ts). The fast target: tests,
 * `_local`, and a laptop's cores. What the task prints goes to `output` as it comes; the last lines of a failed
 * attempt's output are kept for the failure's message.
 */
import { type ItemFailure, runChunk } from "../runtime/map-chunk";
import { PipelineError } from "../errors";
import { TaskLoadError, TaskThread } from "../runtime/map-thread";
import type { MapRun, MapTarget, TargetFailure } from "./target";
import { scheduleRun } from "./schedule";

const TAIL_LINES = 20;

export interface InProcessOptions {
  /** The task module's file on this machine. */
  file: string;
  /** Node options for the task's threads (runMap passes its own: `--preserve-symlinks`, the launchers' preload). */
  execArgv?: string[];
  /** Where the task's output goes (default: this process's stderr). */
  output?: (text: string) => void;
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

export function inProcessTarget(o: InProcessOptions): MapTarget {
  return {
    name: "inprocess",
    async check(run: MapRun): Promise<void> {
      // The task must load before anything starts: a missing module or export is an error naming it (TaskLoadError).
      let t: TaskThread;
      try {
        t = await TaskThread.start(o.file, run.plan.task.export, run.what, { execArgv: o.execArgv, output: () => {} });
      } catch (e) {
        if (e instanceof TaskLoadError) throw new PipelineError("E_MAP_TASK_NOT_FOUND", e.message);
        throw e;
      }
      await t.stop();
    },
    async run(run: MapRun): Promise<TargetFailure | undefined> {
      const idle: { thread: TaskThread; tail: Tail }[] = [];
      const all: TaskThread[] = [];
      const take = async () => {
        const ready = idle.pop();
        if (ready) return ready;
        const tail = new Tail();
        const thread = await TaskThread.start(o.file, run.plan.task.export, run.what, {
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
        const failed = await scheduleRun(run, async (index, _attempt, signal) => {
          const lane = await take();
          lane.tail.take();
          const stopOnAbort = () => void lane.thread.stop();
          signal.addEventListener("abort", stopOnAbort, { once: true });
          try {
            const failure = await runChunk({
              store: run.store,
              plan: run.plan,
              planHex: run.planHex,
              chunk: index,
              thread: lane.thread,
              event: (e) => run.progress.item(e),
            });
            if (!failure) return { ok: true };
            if (signal.aborted) return { ok: false, retry: false, message: "stopped" };
            failures.set(index, { failure, log: lane.tail.take() });
            run.progress.failed(failure);
            return { ok: false, retry: failure.retry, message: failure.message };
          } finally {
            signal.removeEventListener("abort", stopOnAbort);
            idle.push(lane);
          }
        });
        if (!failed) return undefined;
        const f = failures.get(failed.index);
        return { attempts: failed.attempts, failure: f?.failure, log: f?.log ?? [], message: failed.message };
      } finally {
        await Promise.all(all.map((t) => t.stop()));
      }
    },
  };
}
