/**
 * Measuring and removing directory trees of the cache.
 *
 * Sizes are apparent sizes (the bytes of files and symlinks; directories count 0), each hard-linked file once,
 * without crossing into another file system (a mount inside, e.g. a container's overlay, is not counted): what
 * removing the tree gives back, give or take block rounding.
 */
import { chmodSync, lstatSync, readdirSync, rmSync, type Stats } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";

/**
 * Apparent bytes under `path` (0 when it is gone); `seen` (dev:ino) counts a hard link once across calls;
 * paths in `skip` are left out.
 */
export function treeBytes(path: string, seen: Set<string> = new Set(), skip?: ReadonlySet<string>): number {
  let top: Stats;
  try {
    top = lstatSync(path);
  } catch {
    return 0;
  }
  let total = 0;
  const visit = (p: string, st: Stats) => {
    if (st.isDirectory()) {
      if (st.dev !== top.dev) return;
      let names: string[] = [];
      try {
        names = readdirSync(p);
      } catch {
        return; // unreadable: what cannot be read is not counted
      }
      for (const n of names) {
        const c = join(p, n);
        if (skip?.has(c)) continue;
        try {
          visit(c, lstatSync(c));
        } catch {
          // removed meanwhile
        }
      }
      return;
    }
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    total += st.size;
  };
  visit(path, top);
  return total;
}

/** Makes every directory under `path` writable by its owner (read-only ones, as images have, block removal). */
function makeWritable(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  try {
    if ((st.mode & 0o700) !== 0o700) chmodSync(path, (st.mode & 0o7777) | 0o700);
    for (const n of readdirSync(path)) makeWritable(join(path, n));
  } catch {
    // best effort: rm reports what is left
  }
}

/** Removes `path` and everything under it; gone already is fine. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 2 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw e;
    makeWritable(path);
    await rm(path, { recursive: true, force: true, maxRetries: 2 });
  }
}

/** removeTree, synchronously: for the process's last moments (exit hooks, a signal), where nothing async runs. */
export function removeTreeSync(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw e;
    makeWritable(path);
    rmSync(path, { recursive: true, force: true });
  }
}
