/**
 * What git work must undo when the process ends while it runs, in one place (auth.ts: the private credential
 * dirs; ops.ts: git's process groups), so that one set of signal listeners decides:
 *
 *  - `onSignal` hooks run on SIGINT, SIGTERM and SIGHUP: ops.ts passes the signal on to git's process groups
 *    (git runs in a group of its own, so a terminal's Ctrl-C no longer reaches it directly).
 *  - `atExit` hooks run on process `exit`, and before a signal nobody else handles ends the process.
 *  - When another listener handles the signal (the CLI's `pipeline run` turns it into an AbortSignal) that
 *    listener decides what happens: the git commands have been signalled, their callers unwind and clean up.
 *    When no one else listens, the `atExit` hooks run, the listeners are removed and the signal is raised
 *    again, so the process ends as it would have without us.
 * SIGKILL runs nothing: the sweep of auth-dirs.ts handles what that leaves.
 */
type Hook = { atExit?: () => void; onSignal?: (signal: NodeJS.Signals) => void };

const hooks = new Set<Hook>();
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let installed = false;

function runAtExit(): void {
  for (const h of [...hooks]) {
    try {
      h.atExit?.();
    } catch {
      // best effort: the process is ending
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  for (const h of [...hooks]) {
    try {
      h.onSignal?.(signal);
    } catch {
      // best effort
    }
  }
  if (process.listenerCount(signal) > 1) return;
  runAtExit();
  hooks.clear();
  uninstall();
  process.kill(process.pid, signal); // the default action, now that no listener is left
}

function uninstall(): void {
  if (!installed) return;
  process.off("exit", runAtExit);
  for (const s of SIGNALS) process.off(s, onSignal);
  installed = false;
}

/** Registers hooks while some git work runs; the returned function unregisters them (call it when done). */
export function whileGitRuns(hook: Hook): () => void {
  hooks.add(hook);
  if (!installed) {
    process.on("exit", runAtExit);
    for (const s of SIGNALS) process.on(s, onSignal);
    installed = true;
  }
  return () => {
    hooks.delete(hook);
    if (hooks.size === 0) uninstall();
  };
}
