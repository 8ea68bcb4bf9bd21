/**
 * What must be undone when the process ends, in one place: one `exit` listener runs every registered hook
 * (synchronously, as `exit` requires), each at most once, each failure ignored (the process is ending), the last
 * registered first, as `finally` blocks unwind: inner work before what it works in (a package manager writing into a
 * temporary directory is stopped before the directory is removed). Users:
 * the local runner's containers (src/container/cleanup.ts), the cache's held files (src/cache/use.ts), git's
 * credential dirs and process groups (src/git/auth.ts, ops.ts), and signals.ts before it re-raises a signal.
 * SIGKILL runs nothing: the sweeps that read owners (owner.ts) handle what that leaves.
 */
const hooks = new Map<number, () => void>();
let nextId = 1;
let installed = false;

/** Runs (and forgets) every registered hook now. */
export function runExitHooks(): void {
  for (const [id, fn] of [...hooks].reverse()) {
    hooks.delete(id);
    try {
      fn();
    } catch {
      // best effort: the process is ending
    }
  }
}

/** Registers `fn` to run at process exit; the returned function unregisters it (call it once cleaned up). */
export function onExit(fn: () => void): () => void {
  if (!installed) {
    process.on("exit", runExitHooks);
    installed = true;
  }
  const id = nextId++;
  hooks.set(id, fn);
  return () => {
    hooks.delete(id);
  };
}
