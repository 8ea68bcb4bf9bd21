/**
 * The signal hub: one set of listeners for the signals that ask a process to end (SIGINT, SIGTERM, SIGHUP),
 * installed while some handler is registered and removed with the last one.
 *
 *  - A handler that *decides* (the default: a command that stops its containers, deletes its Job, forwards the
 *    signal to the child it waits for) takes over: the process ends when that handler's work unwinds.
 *  - An *observer* (`{ observer: true }`: git passing the signal on to its process groups) only reacts. When a
 *    signal arrives and only observers are registered (and nobody outside the hub listens either), the exit
 *    hooks run (exit.ts), the listeners are removed and the signal is raised again, so the process ends as it
 *    would have without us.
 */
import type { ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { onExit, runExitHooks } from "./exit";

export const TERMINATION_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

interface Handler {
  fn: (signal: NodeJS.Signals) => void;
  observer: boolean;
}

const handlers = new Set<Handler>();
let installed = false;

function dispatch(signal: NodeJS.Signals): void {
  for (const h of [...handlers]) {
    try {
      h.fn(signal);
    } catch {
      // a handler's failure must not keep the others from running
    }
  }
  const decided = [...handlers].some((h) => !h.observer) || process.listenerCount(signal) > 1;
  if (decided) return;
  runExitHooks();
  handlers.clear();
  uninstall();
  process.kill(process.pid, signal); // the default action, now that no listener is left
}

function uninstall(): void {
  if (!installed) return;
  for (const s of TERMINATION_SIGNALS) process.off(s, dispatch);
  installed = false;
}

/** Calls `fn` on SIGINT, SIGTERM and SIGHUP until the returned function is called. */
export function onTermination(fn: (signal: NodeJS.Signals) => void, opts: { observer?: boolean } = {}): () => void {
  const h: Handler = { fn, observer: opts.observer ?? false };
  handlers.add(h);
  if (!installed) {
    for (const s of TERMINATION_SIGNALS) process.on(s, dispatch);
    installed = true;
  }
  return () => {
    handlers.delete(h);
    if (handlers.size === 0) uninstall();
  };
}

/** Passes SIGINT, SIGTERM and SIGHUP on to `child` (which decides how this process ends) until unregistered. */
export function forwardTermination(child: ChildProcess): () => void {
  return onTermination((signal) => {
    child.kill(signal);
  });
}

/** The shell's exit code for a process ended by `signal` (128 + its number), or `fallback` when none. */
export function signalExitCode(signal: NodeJS.Signals | null, fallback = 1): number {
  if (!signal) return fallback;
  const n = constants.signals[signal];
  return n ? 128 + n : fallback;
}

/**
 * While some work runs: `atExit` runs at process exit (exit.ts) and, since it is registered as an observer,
 * also before a signal nobody decides on ends the process; `onSignal` hears the signal first. Returns one
 * function that unregisters both (call it when the work is done and cleaned up).
 */
export function untilDone(
  atExit: () => void,
  onSignal: (signal: NodeJS.Signals) => void = () => undefined,
): () => void {
  const offExit = onExit(atExit);
  const offSignal = onTermination(onSignal, { observer: true });
  return () => {
    offSignal();
    offExit();
  };
}

/** A child's exit status as a shell gives it: its exit code, or 128 + the number of the signal that ended it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? signalExitCode(signal, 128);
}

/** How a caller ends a run early: `signal` asks it to stop (with `stopTimeoutMs` of grace), `kill` ends it now. */
export interface RunAbort {
  signal?: AbortSignal;
  kill?: AbortSignal;
  /** Default 5 s. */
  stopTimeoutMs?: number;
}

/**
 * Calls `stop` when `o.signal` aborts and `kill` when `o.kill` aborts (at once for one aborted already). Returns
 * the function that unwires both; call it when the run has ended.
 */
export function onRunAbort(o: RunAbort, stop: () => void, kill: () => void): () => void {
  const listen = (s: AbortSignal | undefined, fn: () => void) => {
    if (!s) return () => undefined;
    if (s.aborted) {
      fn();
      return () => undefined;
    }
    s.addEventListener("abort", fn, { once: true });
    return () => s.removeEventListener("abort", fn);
  };
  const offStop = listen(o.signal, stop);
  const offKill = listen(o.kill, kill);
  return () => {
    offStop();
    offKill();
  };
}

/**
 * `onRunAbort` for a runner that signals its processes itself: a stop sends SIGTERM, then SIGKILL after
 * `stopTimeoutMs` if the run has not ended by then; a kill sends SIGKILL.
 */
export function terminateOnRunAbort(o: RunAbort, send: (signal: "SIGTERM" | "SIGKILL") => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const off = onRunAbort(
    o,
    () => {
      send("SIGTERM");
      timer = setTimeout(() => send("SIGKILL"), o.stopTimeoutMs ?? 5000);
    },
    () => send("SIGKILL"),
  );
  return () => {
    if (timer) clearTimeout(timer);
    off();
  };
}
