/**
 * The HTTP(S) credential never lies on disk, not even after a SIGKILL: the `credential` node beside the one-shot
 * helper (auth.ts) is a FIFO (mode 0600) that this process serves from memory. Every answer is one record of
 * RECORD_BYTES (= Linux's PIPE_BUF): `username=…\npassword=…\n` padded with newlines (the helper passes on
 * the lines before the first empty one). A record is written with one write(2), which a pipe keeps whole,
 * and the helper takes it with one read(2) of that size (`dd bs=4096 count=1`), so concurrent helpers sharing
 * the pipe each get a whole record (never bytes of two), and records the pipe still holds when its last reader
 * closes are dropped with it. git may call the helper more than once: each call opens the FIFO anew.
 *
 * The server is a worker thread, so a caller that blocks the event loop (execFileSync of git, as tests do) is
 * still answered, and it never waits in a system call, so `stop()` always ends it: it opens the FIFO with
 * O_NONBLOCK (ENXIO while no reader has it open; it retries 10 ms later), then keeps the pipe stocked with
 * records, without blocking, while any reader has it open (a full pipe: EAGAIN, it tries again later; no reader
 * left: EPIPE, it closes), checking the stop flag between tries. Closing after each record instead would give a
 * helper that opened alongside another end-of-file; what remains is the few microseconds between EPIPE and the
 * close, in which a helper that opens gets end-of-file (git then fails; only concurrent git commands under one
 * withGitAuth could meet it, and ops.ts runs them one at a time). `stop()` sets the flag, ends the worker
 * and lets a helper still waiting to open the FIFO read end-of-file (it answers nothing), so a killed, stopped
 * or absent reader never holds this process. A SIGKILL ends the worker with the process: what remains is the
 * empty FIFO node (pipe buffers are kernel memory, never written to disk); a helper git starts after that waits
 * on it until the next start's sweep kills git (auth-dirs.ts).
 */
import { execFile } from "node:child_process";
import { chmod } from "node:fs/promises";
import { closeSync, constants, openSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { PipelineError } from "../errors";

/** The size of one answer: what one write to a pipe keeps whole (PIPE_BUF on Linux). */
export const RECORD_BYTES = 4096;

const STOP = 0; // control[STOP]: 1 once stop() was called
const SERVED = 1; // control[SERVED]: answers written whole

// Plain JS (the worker is evaluated from this string, the same under tsc, esbuild's bundle and vitest).
const WORKER = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { path, answer, control } = workerData;
const C = fs.constants;
const stopped = () => Atomics.load(control, ${STOP}) !== 0;
const sleep = (ms) => Atomics.wait(control, ${STOP}, 0, ms);
while (!stopped()) {
  let fd;
  try {
    fd = fs.openSync(path, C.O_WRONLY | C.O_NONBLOCK | C.O_NOFOLLOW);
  } catch (e) {
    if (e.code !== "ENXIO") break; // the FIFO is gone: the dir was removed
    sleep(10);
    continue;
  }
  // Keep the pipe stocked while any reader has it open: closing after one record would give a second reader
  // that opened alongside the first end-of-file. A full pipe is EAGAIN; no reader left, EPIPE: close.
  for (;;) {
    let full = false;
    try {
      if (fs.writeSync(fd, answer) === answer.length) Atomics.add(control, ${SERVED}, 1);
    } catch (e) {
      if (e.code !== "EAGAIN") break;
      full = true;
    }
    if (stopped()) break;
    sleep(full ? 10 : 1);
  }
  fs.closeSync(fd);
}
`;

export interface CredentialFifo {
  /** How many answers were written whole so far. */
  served(): number;
  /** Ends the server (once) and releases the helpers waiting on the FIFO (each call); synchronous, never throws. */
  stop(): void;
}

function mkfifo(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("mkfifo", ["-m", "600", "--", path], { encoding: "utf8" }, (err, _out, stderr) => {
      if (err)
        reject(
          new PipelineError(
            "E_GIT_CREDENTIAL",
            `cannot make the credential FIFO ${path}: ${(stderr || err.message).trim()}`,
          ),
        );
      else resolve();
    });
  });
}

/**
 * Makes the FIFO at `path` (which must not exist) and serves `answer` (lines, at most RECORD_BYTES - 1 bytes;
 * auth.ts checks) to every reader until `stop()`.
 */
export async function serveCredentialFifo(path: string, answer: string): Promise<CredentialFifo> {
  const record = Buffer.alloc(RECORD_BYTES, "\n");
  if (record.write(answer) !== Buffer.byteLength(answer) || Buffer.byteLength(answer) >= RECORD_BYTES) {
    throw new PipelineError("E_GIT_CREDENTIAL", `a git credential answer must be shorter than ${RECORD_BYTES} bytes`);
  }
  await mkfifo(path);
  await chmod(path, 0o600); // whatever the umask
  const control = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(WORKER, { eval: true, workerData: { path, answer: record, control } });
  worker.unref(); // it never keeps the process alive
  worker.on("error", () => undefined); // a worker that failed serves no more; the helper then fails, and git with it
  let stopped = false;
  return {
    served: () => Atomics.load(control, SERVED),
    stop: () => {
      if (!stopped) {
        stopped = true;
        Atomics.store(control, STOP, 1);
        Atomics.notify(control, STOP);
        worker.terminate().catch(() => undefined);
      }
      releaseReaders(path);
    },
  };
}

/** Lets helpers blocked opening the FIFO for reading see end-of-file; never throws. */
function releaseReaders(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW));
  } catch {
    // no reader waiting (ENXIO), or no FIFO
  }
}
