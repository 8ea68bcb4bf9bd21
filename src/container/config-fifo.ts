/**
 * runc's config.json (it holds the env values) is never a file on disk: the bundle's `config.json` is a FIFO
 * (mode 0600) and the runner writes the JSON into it once `runc run` opens it to read (runc 1.1 reads its spec
 * once, at create). The bytes go from the runner's memory to runc's through the pipe; what stays in the run
 * directory is an empty FIFO node. A runner killed at any point (SIGKILL) leaves no value on the cache's disk:
 * what remains is runc's own state (state.json under runc's --root, /run/runc, a tmpfs, for root) and the
 * running container, until the next `pipeline run` reaps them (runc.ts reapStale).
 *
 * A `runc run` that never opens the FIFO (it failed first) is noticed through `exited`; one left waiting on a
 * FIFO by a killed runner is released by `releaseConfigFifoSync` (it reads end-of-file and fails).
 */
import { execFile } from "node:child_process";
import { closeSync, constants, lstatSync, openSync, write } from "node:fs";
import { PipelineError } from "../errors";

export function makeConfigFifo(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("mkfifo", ["-m", "600", "--", path], { encoding: "utf8" }, (err, _out, stderr) => {
      if (err)
        reject(
          new PipelineError(
            "E_RUNTIME",
            `cannot make the FIFO for runc's config at ${path}: ${(stderr || err.message).trim()}`,
          ),
        );
      else resolve();
    });
  });
}

/** Writes `bytes` into the FIFO once a reader has it open; gives up (false) when `exited()` says runc is gone. */
export async function feedConfigFifo(path: string, bytes: Buffer, exited: () => boolean): Promise<boolean> {
  let probe: number | undefined;
  while (probe === undefined) {
    try {
      // Non-blocking: ENXIO until runc opens the FIFO for reading (a blocking open would hang if it never does).
      probe = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENXIO" || exited()) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  // A blocking descriptor for the data (runc reads as it comes; the pipe holds 64 KiB).
  const fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
  closeSync(probe);
  try {
    let off = 0;
    while (off < bytes.length) {
      off += await new Promise<number>((resolve, reject) =>
        write(fd, bytes, off, bytes.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
      );
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Lets a runc still waiting to read the FIFO at `path` see end-of-file (it then fails); never throws. */
export function releaseConfigFifoSync(path: string): void {
  try {
    if (!lstatSync(path).isFIFO()) return;
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW));
  } catch {
    // no FIFO, or nobody reading it
  }
}
