/**
 * The thread a map's task runs in (map-chunk.ts): the task's module is loaded once per thread and called item after
 * item. A thread, not the calling thread, so that a task past its timeout (a busy loop included) is stopped by
 * terminating the thread, and a task's crash or `process.exit` cannot take the store's writes with it. The thread
 * inherits the process's Node options (`--preserve-symlinks`, the launchers' `--require` preload), so the module
 * resolves its imports as the launch script does.
 *
 * Items go in and results come out by structured clone: a result that cannot be cloned (a function, a symbol) is
 * reported here, one that can but is not JSON (a BigInt, a cycle, a Date) by the codec on the calling side.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { Worker } from "node:worker_threads";
import type { MapValue } from "./map-codec";

/** The thread's program: self-contained text (no file is needed beside a bundled worker). */
const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { pathToFileURL } = require("node:url");
const describe = (e) => (e && typeof e === "object" && "message" in e ? String(e.message) : String(e));
(async () => {
  let fn;
  try {
    const mod = await import(pathToFileURL(workerData.file).href);
    fn = mod[workerData.name];
    if (fn === undefined && mod.default !== null && typeof mod.default === "object") fn = mod.default[workerData.name];
  } catch (e) {
    parentPort.postMessage({ kind: "load-error", message: describe(e) });
    return;
  }
  if (typeof fn !== "function") {
    parentPort.postMessage({ kind: "no-export", type: fn === undefined ? "missing" : typeof fn });
    return;
  }
  parentPort.postMessage({ kind: "ready" });
  parentPort.on("message", async ({ id, item }) => {
    let result;
    try {
      result = await fn(item);
    } catch (e) {
      parentPort.postMessage({ kind: "threw", id, message: describe(e), stack: e && e.stack ? String(e.stack) : undefined });
      return;
    }
    try {
      parentPort.postMessage({ kind: "result", id, result });
    } catch (e) {
      parentPort.postMessage({ kind: "unserialisable", id, message: describe(e) });
    }
  });
})();
`;

/** What one call of the task gave. */
export type TaskOutcome =
  | { kind: "result"; result: unknown }
  | { kind: "threw"; message: string; stack?: string }
  | { kind: "unserialisable"; message: string }
  | { kind: "timeout"; ms: number }
  | { kind: "crashed"; message: string };

/** Why the task cannot be called at all: its module does not load, or has no such function. */
export class TaskLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskLoadError";
  }
}

type Reply =
  | { kind: "ready" }
  | { kind: "load-error"; message: string }
  | { kind: "no-export"; type: string }
  | { kind: "result"; id: number; result: unknown }
  | { kind: "threw"; id: number; message: string; stack?: string }
  | { kind: "unserialisable"; id: number; message: string };

/** One thread with the task loaded; `call` runs one item at a time. */
export class TaskThread {
  private worker: Worker | undefined;
  private pending: ((r: TaskOutcome) => void) | undefined;
  private nextId = 0;

  private constructor(
    private readonly file: string,
    private readonly name: string,
    private readonly what: string,
    private readonly execArgv: string[] | undefined,
    private readonly output: ((chunk: Buffer) => void) | undefined,
  ) {}

  /**
   * Starts a thread and loads `file`'s export `name`; TaskLoadError naming `what` (`task pkg/score.js#score`) if not.
   * What the task prints (stdout and stderr) goes to `output`, else to this process's stderr: never to its stdout,
   * which may be carrying results.
   */
  static async start(
    file: string,
    name: string,
    what: string,
    opts: { execArgv?: string[]; output?: (chunk: Buffer) => void } = {},
  ): Promise<TaskThread> {
    const t = new TaskThread(file, name, what, opts.execArgv, opts.output);
    await t.load();
    return t;
  }

  private load(): Promise<void> {
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { file: this.file, name: this.name },
      ...(this.execArgv ? { execArgv: this.execArgv } : {}),
      stdout: true,
      stderr: true,
    });
    this.worker = worker;
    const out = this.output ?? ((chunk: Buffer) => process.stderr.write(chunk));
    worker.stdout.on("data", out);
    worker.stderr.on("data", out);
    return new Promise((resolve, reject) => {
      let loaded = false;
      worker.on("message", (m: Reply) => {
        if (m.kind === "ready") {
          loaded = true;
          resolve();
        } else if (m.kind === "load-error")
          reject(new TaskLoadError(`${this.what}: its module does not load: ${m.message}`));
        else if (m.kind === "no-export")
          reject(
            new TaskLoadError(
              m.type === "missing"
                ? `${this.what}: the module exports no ${JSON.stringify(this.name)}`
                : `${this.what}: the export ${JSON.stringify(this.name)} is a ${m.type}, not a function`,
            ),
          );
        else this.settle(m.kind === "result" ? { kind: "result", result: m.result } : m);
      });
      worker.on("error", (e) => {
        if (!loaded) reject(new TaskLoadError(`${this.what}: its module does not load: ${e.message}`));
        else this.settle({ kind: "crashed", message: e.message });
      });
      worker.on("exit", (code) => {
        if (!loaded)
          reject(new TaskLoadError(`${this.what}: the thread exited (code ${code}) while loading the module`));
        else this.settle({ kind: "crashed", message: `the task ended its thread (exit code ${code})` });
        if (this.worker === worker) this.worker = undefined;
      });
    });
  }

  private settle(r: TaskOutcome): void {
    const p = this.pending;
    this.pending = undefined;
    p?.(r);
  }

  /**
   * Calls the task with `item`. Past `timeoutMs` (0: none) the thread is terminated and the outcome is `timeout`; a
   * new thread is started for the next call (so does a crash).
   */
  async call(item: MapValue, timeoutMs: number): Promise<TaskOutcome> {
    if (!this.worker) await this.load();
    const worker = this.worker!;
    const id = this.nextId++;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<TaskOutcome>((resolve) => {
      this.pending = resolve;
      if (timeoutMs > 0)
        timer = setTimeout(() => {
          this.pending = undefined;
          this.worker = undefined;
          void worker.terminate();
          resolve({ kind: "timeout", ms: timeoutMs });
        }, timeoutMs);
      worker.postMessage({ id, item });
    });
    clearTimeout(timer);
    return outcome;
  }

  /** Ends the thread; a call in progress resolves as `crashed` (stopped). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.settle({ kind: "crashed", message: "stopped" });
    if (w) await w.terminate();
  }
}
