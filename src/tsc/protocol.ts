/**
 * The persistent Bazel worker protocol (https://bazel.build/remote/persistent, proto format), once, for the programs
 * the rules' actions run as workers: the tsc runner (TsCompile, src/tsc/worker.ts) and the `pipeline` CLI
 * (src/cli/worker.ts: PipelineLayer, PipelineImage). esbuild bundles it into both.
 *
 * - Codec: length-delimited proto3 WorkRequest / WorkResponse, hand-encoded from the protobuf encoding spec (no
 *   protobuf dependency). Fields read: arguments (1), inputs (2: path, digest), request_id (3), cancel (4),
 *   sandbox_dir (6); written: exit_code (1), output (2), request_id (3).
 * - serveWorker: the framing loop. Requests are read from stdin as they arrive and answered in order, one at a time
 *   (singleplex: Bazel sends the next only after the answer); a handler that throws answers with exit code 1 and the
 *   error, and the worker goes on. Nothing but responses reaches stdout while it serves: `process.stdout.write`
 *   (and console.log, which goes through it) is sent to stderr, which Bazel keeps in the worker's log.
 * - A worker whose program was replaced on disk (a rebuilt CLI or runner) is stale. Bazel 7 starts a new worker for
 *   new tools (they are part of the worker key); Bazel 4.2.3 keeps handing requests to the running worker (seen in
 *   test/e2e/cli-worker-differential.test.ts). So before each request the loop compares the program file
 *   (`process.argv[1]`: its inode, size and times, and those of its second file `X.lazy.js` if it has one) with what
 *   it was at start; once it changed, it starts a worker of the file now on disk (`node PROGRAM --persistent_worker`,
 *   its successor) and hands it every request from then on, frame for frame, its answers going back to Bazel
 *   unchanged. So no answer ever comes from old code, and a request keeps everything a worker request has (its inputs
 *   and their digests: the tsc runner shows the compiler those alone) and the successor its state between requests.
 *   Each program is one bundled file (its modules inside it), so the file is the whole of its code. The worker stays
 *   up (one exiting after its answer races Bazel's next request to it) until Bazel closes its stdin, which closes the
 *   successor's.
 * - `--timings` among the worker's own arguments (`--worker_extra_flag=MNEMONIC=--timings`, for measuring): one line a
 *   request on stderr (Bazel's worker log), what it was for (its `--label`, else its command) and the milliseconds from
 *   its first byte read to its answer written. An action's span in Bazel's profile less that is Bazel's own part of it
 *   (bench P10-tscompile-ts7-floor-bazel); Bazel 4.2.3's profile has no event for a worker's answer.
 * - readFlagFiles: the one-shot side. A worker action's arguments are in a flag file (`@FILE`, one argument a line,
 *   empty lines dropped), which Bazel expands into the request itself; run one-shot (workers off, or another
 *   strategy), the program reads the same file. Lines are not expanded again: the rules never write one that
 *   starts with "@" (Bazel would expand it in a request).
 */
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";

/** One WorkRequest. `inputs`: each input's path (as Bazel gives it: relative to the working directory) → its digest, in hex. */
export interface WorkRequest {
  args: string[];
  inputs: Map<string, string>;
  requestId: number;
  cancel: boolean;
  sandboxDir: string;
}

/** What a handler answers: the response's exit code and output. */
export interface WorkResult {
  code: number;
  output: string;
}

/** The value and the position after it. */
function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new RangeError("truncated varint");
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7;
    if (shift > 63) throw new Error("varint too long");
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/**
 * Calls `onField` for each field of the message in `buf` from `start` to `end`: a varint field's value (`from` -1), or
 * a length-delimited field's bytes, `buf[from, to)`. Fixed-width fields are skipped (the protocol reads none). No
 * object per field: a request names every input (thousands), each a message of its own.
 */
function eachField(
  buf: Buffer,
  start: number,
  end: number,
  onField: (field: number, value: number, from: number, to: number) => void,
): void {
  let pos = start;
  while (pos < end) {
    const [tag, p1] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const [value, p2] = readVarint(buf, p1);
      pos = p2;
      onField(field, value, -1, -1);
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, p1);
      pos = p2 + len;
      onField(field, len, p2, Math.min(pos, end));
    } else if (wire === 1) pos = p1 + 8;
    else if (wire === 5) pos = p1 + 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

export function decodeRequest(buf: Buffer): WorkRequest {
  const r: WorkRequest = { args: [], inputs: new Map(), requestId: 0, cancel: false, sandboxDir: "" };
  let path = "";
  let digest = "";
  const inputField = (field: number, _len: number, from: number, to: number) => {
    if (from < 0) return;
    if (field === 1) path = buf.toString("utf8", from, to);
    else if (field === 2) digest = buf.toString("hex", from, to);
  };
  eachField(buf, 0, buf.length, (field, value, from, to) => {
    if (from < 0) {
      if (field === 3) r.requestId = value;
      else if (field === 4) r.cancel = value !== 0;
    } else if (field === 1) r.args.push(buf.toString("utf8", from, to));
    else if (field === 2) {
      path = "";
      digest = "";
      eachField(buf, from, to, inputField);
      r.inputs.set(path, digest);
    } else if (field === 6) r.sandboxDir = buf.toString("utf8", from, to);
  });
  return r;
}

/** One length-delimited WorkResponse. */
export function encodeResponse(exitCode: number, output: string, requestId: number): Buffer {
  const parts: Buffer[] = [];
  if (exitCode !== 0) parts.push(Buffer.from([0x08]), varint(exitCode >>> 0));
  const text = Buffer.from(output, "utf8");
  if (text.length) parts.push(Buffer.from([0x12]), varint(text.length), text);
  if (requestId) parts.push(Buffer.from([0x18]), varint(requestId));
  const body = Buffer.concat(parts);
  return Buffer.concat([varint(body.length), body]);
}

/**
 * Serves WorkRequests from stdin until it ends (Bazel closes it to stop the worker; the returned promise then
 * resolves). Cancel requests are not answered: the rules do not declare `supports-worker-cancellation`.
 * @param name the program, for the message of a handler that throws
 */
export function serveWorker(
  name: string,
  handle: (request: WorkRequest) => WorkResult | Promise<WorkResult>,
): Promise<void> {
  const program = process.argv[1];
  const started = programIdentity(program);
  const timings = process.argv.includes("--timings");
  let stale = false;
  const respond = process.stdout.write.bind(process.stdout);
  // Only responses on stdout: a stray write would corrupt the stream Bazel reads.
  process.stdout.write = process.stderr.write.bind(process.stderr);
  let queue = Promise.resolve();
  let successor: Successor | undefined;
  const answer = async (req: WorkRequest, frame: Buffer) => {
    stale ||= programIdentity(program) !== started;
    if (stale) {
      successor ??= startSuccessor(program);
      try {
        respond(await successor.send(frame));
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        respond(encodeResponse(1, `${name}: the worker of the replaced ${program} failed: ${why}\n`, req.requestId));
      }
      return;
    }
    let result: WorkResult;
    try {
      result = await handle(req);
    } catch (e) {
      result = { code: 1, output: `${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n` };
    }
    respond(encodeResponse(result.code, result.output, req.requestId));
  };
  const timed = async (req: WorkRequest, frame: Buffer, since: bigint) => {
    await answer(req, frame);
    if (timings) {
      const ms = Number(process.hrtime.bigint() - since) / 1e6;
      process.stderr.write(
        `${name}: answered request ${req.requestId} (${requestName(req.args)}) in ${ms.toFixed(1)} ms\n`,
      );
    }
  };
  return new Promise((resolve) => {
    process.stdin.on(
      "data",
      frames((frame, start, since) => {
        const req = decodeRequest(frame.subarray(start));
        if (!req.cancel) queue = queue.then(() => timed(req, frame, since));
      }),
    );
    process.stdin.on("end", () => {
      queue.then(() => successor?.close()).then(() => resolve());
    });
  });
}

/**
 * A `data` listener for a stream of length-delimited messages: calls `onFrame` with each whole one as it completes
 * (its own copy, the length prefix included; `start`: where the message follows the prefix; `since`: when its first
 * byte arrived, process.hrtime). The chunks of a message are joined once, when the last of them arrives.
 */
function frames(onFrame: (frame: Buffer, start: number, since: bigint) => void): (chunk: Buffer) => void {
  let chunks: Buffer[] = [];
  let size = 0;
  let need = 0; // the whole frame's length, once its prefix is read
  let start = 0;
  let since = 0n;
  return (chunk) => {
    if (!size) since = process.hrtime.bigint();
    chunks.push(chunk);
    size += chunk.length;
    for (;;) {
      if (!need) {
        // The prefix is at most 10 bytes: chunks are joined here only while fewer than that have come.
        if (chunks.length > 1) chunks = [Buffer.concat(chunks, size)];
        let len: number;
        try {
          [len, start] = readVarint(chunks[0], 0);
        } catch (e) {
          if (e instanceof RangeError) return; // the length itself is not all here yet
          throw e;
        }
        need = start + len;
      }
      if (size < need) return;
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      const frame = Buffer.from(all.subarray(0, need));
      const at = since;
      chunks = size > need ? [all.subarray(need)] : [];
      size -= need;
      need = 0;
      since = process.hrtime.bigint(); // the next message's first bytes came with this chunk
      onFrame(frame, start, at);
      if (!size) return;
    }
  };
}

/** What a request is for, in a `--timings` line: its `--label` (the tsc runner's), else its command (the CLI's). */
function requestName(args: string[]): string {
  const i = args.findIndex((a) => a === "--label" || a.startsWith("--label="));
  if (i >= 0) return args[i] === "--label" ? (args[i + 1] ?? "") : args[i].slice("--label=".length);
  return args.find((a) => !a.startsWith("-")) ?? "";
}

/** What changes when a file is replaced or rewritten. */
export function fileIdentity(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return "absent";
  }
}

/**
 * The program file's identity and that of its second file, if it has one (`X.lazy.js` beside `X.js`: the CLI's
 * commands, src/cli/lazy-bundle.ts, loaded at the first request): a rebuild may rewrite either alone.
 */
function programIdentity(program: string): string {
  return `${fileIdentity(program)} ${fileIdentity(program.replace(/\.js$/, "") + ".lazy.js")}`;
}

/** A successor worker: `send` takes one length-delimited WorkRequest and gives its WorkResponse (in order, one at a time). */
interface Successor {
  send(frame: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A worker of the program now on disk (`node PROGRAM --persistent_worker`, with this process's Node flags), to which
 * a stale worker hands its requests; its stderr is this worker's (Bazel's worker log).
 */
function startSuccessor(program: string): Successor {
  const child = spawn(process.execPath, [...process.execArgv, program, "--persistent_worker"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const waiting: { resolve: (frame: Buffer) => void; reject: (e: Error) => void }[] = [];
  let gone: Error | undefined;
  child.stdout.on(
    "data",
    frames((frame) => waiting.shift()?.resolve(frame)),
  );
  const exited = new Promise<void>((resolve) => {
    const end = (e: Error) => {
      gone ??= e;
      for (const w of waiting.splice(0)) w.reject(gone);
      resolve();
    };
    child.once("error", end);
    child.once("exit", (code, signal) => end(new Error(`it exited (${signal ?? code})`)));
  });
  child.stdin.on("error", () => undefined); // a successor that died: reported through `exited`
  return {
    send(frame) {
      if (gone) return Promise.reject(gone);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(frame);
      });
    },
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}

/** The arguments with each `@FILE` replaced by FILE's non-empty lines (one-shot mode; as Bazel builds a request). */
export function readFlagFiles(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a.startsWith("@"))
      out.push(
        ...readFileSync(a.slice(1), "utf8")
          .split("\n")
          .filter((l) => l !== ""),
      );
    else out.push(a);
  }
  return out;
}
