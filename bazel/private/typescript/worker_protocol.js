// @ts-check
/**
 * The persistent Bazel worker protocol (https://bazel.build/remote/persistent, proto format), once, for the programs
 * the rules' actions run as workers: tsc_worker.js (TsCompile) and the `pipeline` CLI (src/cli/worker.ts:
 * PipelineLayer, PipelineImage). Plain JavaScript with type checks, CommonJS: tsc_worker.js requires it as it is
 * (a tool of the TsCompile action beside it), esbuild bundles it into the CLI.
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
 *   (`process.argv[1]`: its inode, size and times, and those of its second file `X.lazy.js` if it has one, and of
 *   the `companions` it names: the modules tsc_worker.js requires beside it) with what it was at start; once it changed, it starts a worker of the file now on disk (`node PROGRAM --persistent_worker`,
 *   its successor) and hands it every request from then on, frame for frame, its answers going back to Bazel
 *   unchanged. So no answer ever comes from old code, and a request
 *   keeps everything a worker request has (its inputs and their digests: tsc_worker.js shows the compiler those
 *   alone) and the successor its state between requests. The worker stays up (one exiting after its answer races
 *   Bazel's next request to it) until Bazel closes its stdin, which closes the successor's.
 * - readFlagFiles: the one-shot side. A worker action's arguments are in a flag file (`@FILE`, one argument a line,
 *   empty lines dropped), which Bazel expands into the request itself; run one-shot (workers off, or another
 *   strategy), the program reads the same file. Lines are not expanded again: the rules never write one that
 *   starts with "@" (Bazel would expand it in a request).
 */
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");

/**
 * @typedef {{ args: string[], inputs: Map<string, string>, requestId: number, cancel: boolean, sandboxDir: string }} WorkRequest
 *   inputs: each input's path (as Bazel gives it: relative to the working directory) → its digest, in hex
 * @typedef {{ code: number, output: string }} WorkResult
 */

/** @param {Buffer} buf @param {number} pos @returns {[number, number]} the value and the position after it */
function readVarint(buf, pos) {
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

/** @param {number} n */
function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Fields of a message: [fieldNumber, wireType, value (number for varints, Buffer for bytes)]. */
function* fields(/** @type {Buffer} */ buf) {
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const [v, p2] = readVarint(buf, p1);
      pos = p2;
      yield/** @type {[number, number, number | Buffer]} */ ([field, wire, v]);
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, p1);
      pos = p2 + len;
      yield/** @type {[number, number, number | Buffer]} */ ([field, wire, buf.subarray(p2, p2 + len)]);
    } else if (wire === 1) pos = p1 + 8;
    else if (wire === 5) pos = p1 + 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** @param {Buffer} buf @returns {WorkRequest} */
function decodeRequest(buf) {
  /** @type {WorkRequest} */
  const r = { args: [], inputs: new Map(), requestId: 0, cancel: false, sandboxDir: "" };
  for (const [field, , v] of fields(buf)) {
    if (field === 1 && Buffer.isBuffer(v)) r.args.push(v.toString("utf8"));
    else if (field === 2 && Buffer.isBuffer(v)) {
      let p = "";
      let digest = "";
      for (const [f2, , v2] of fields(v)) {
        if (f2 === 1 && Buffer.isBuffer(v2)) p = v2.toString("utf8");
        else if (f2 === 2 && Buffer.isBuffer(v2)) digest = v2.toString("hex");
      }
      r.inputs.set(p, digest);
    } else if (field === 3 && typeof v === "number") r.requestId = v;
    else if (field === 4 && typeof v === "number") r.cancel = v !== 0;
    else if (field === 6 && Buffer.isBuffer(v)) r.sandboxDir = v.toString("utf8");
  }
  return r;
}

/** One length-delimited WorkResponse. @param {number} exitCode @param {string} output @param {number} requestId */
function encodeResponse(exitCode, output, requestId) {
  const parts = [];
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
 * @param {string} name the program, for the message of a handler that throws
 * @param {(request: WorkRequest) => WorkResult | Promise<WorkResult>} handle
 * @param {string[]} [companions] the program's other files, whose replacement makes it stale as its own does (the
 *   modules tsc_worker.js requires beside it)
 * @returns {Promise<void>}
 */
function serveWorker(name, handle, companions = []) {
  const program = process.argv[1];
  const identity = () => [programIdentity(program), ...companions.map(fileIdentity)].join(" ");
  const started = identity();
  let stale = false;
  const respond = process.stdout.write.bind(process.stdout);
  // Only responses on stdout: a stray write would corrupt the stream Bazel reads.
  process.stdout.write = /** @type {typeof process.stdout.write} */ (process.stderr.write.bind(process.stderr));
  /** @type {Promise<void>} */
  let queue = Promise.resolve();
  /** @type {Successor | undefined} */
  let successor;
  const answer = async (/** @type {WorkRequest} */ req, /** @type {Buffer} */ frame) => {
    stale ||= identity() !== started;
    if (stale) {
      successor ??= startSuccessor(program);
      try {
        respond(await successor.send(frame));
      } catch (e) {
        respond(
          encodeResponse(
            1,
            `${name}: the worker of the replaced ${program} failed: ${e instanceof Error ? e.message : String(e)}\n`,
            req.requestId,
          ),
        );
      }
      return;
    }
    /** @type {WorkResult} */
    let result;
    try {
      result = await handle(req);
    } catch (e) {
      result = { code: 1, output: `${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n` };
    }
    respond(encodeResponse(result.code, result.output, req.requestId));
  };
  return new Promise((resolve) => {
    process.stdin.on(
      "data",
      frames((frame, start) => {
        const req = decodeRequest(frame.subarray(start));
        if (!req.cancel) queue = queue.then(() => answer(req, frame));
      }),
    );
    process.stdin.on("end", () => {
      queue.then(() => successor?.close()).then(() => resolve());
    });
  });
}

/**
 * A `data` listener for a stream of length-delimited messages: calls `onFrame` with each whole one as it completes
 * (its own copy, the length prefix included; `start`: where the message follows the prefix).
 * @param {(frame: Buffer, start: number) => void} onFrame
 */
function frames(onFrame) {
  let pending = Buffer.alloc(0);
  return (/** @type {Buffer} */ chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      let len;
      let start;
      try {
        [len, start] = readVarint(pending, 0);
      } catch (e) {
        if (e instanceof RangeError) return; // the length itself is not all here yet
        throw e;
      }
      if (pending.length < start + len) return;
      const frame = Buffer.from(pending.subarray(0, start + len));
      pending = pending.subarray(start + len);
      onFrame(frame, start);
    }
  };
}

/** What changes when a file is replaced or rewritten. @param {string} file */
function fileIdentity(file) {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return "absent";
  }
}

/**
 * The program file's identity and that of its second file, if it has one (`X.lazy.js` beside `X.js`: the CLI's
 * commands, src/cli/lazy-bundle.ts, loaded at the first request): a rebuild may rewrite either alone.
 * @param {string} program
 */
function programIdentity(program) {
  return `${fileIdentity(program)} ${fileIdentity(program.replace(/\.js$/, "") + ".lazy.js")}`;
}

/**
 * @typedef {{ send(frame: Buffer): Promise<Buffer>, close(): Promise<void> }} Successor
 *   send: one length-delimited WorkRequest in, its length-delimited WorkResponse out (in order, one at a time)
 */

/**
 * A worker of the program now on disk (`node PROGRAM --persistent_worker`, with this process's Node flags), to which
 * a stale worker hands its requests; its stderr is this worker's (Bazel's worker log).
 * @param {string} program @returns {Successor}
 */
function startSuccessor(program) {
  const child = spawn(process.execPath, [...process.execArgv, program, "--persistent_worker"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  /** @type {{ resolve: (frame: Buffer) => void, reject: (e: Error) => void }[]} */
  const waiting = [];
  /** @type {Error | undefined} */
  let gone;
  child.stdout.on(
    "data",
    frames((frame) => waiting.shift()?.resolve(frame)),
  );
  const exited = new Promise((resolve) => {
    const end = (/** @type {Error} */ e) => {
      gone ??= e;
      for (const w of waiting.splice(0)) w.reject(gone);
      resolve(undefined);
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

/**
 * The arguments with each `@FILE` replaced by FILE's non-empty lines (one-shot mode; as Bazel builds a request).
 * @param {string[]} args
 */
function readFlagFiles(args) {
  /** @type {string[]} */
  const out = [];
  for (const a of args) {
    if (a.startsWith("@"))
      out.push(
        ...fs
          .readFileSync(a.slice(1), "utf8")
          .split("\n")
          .filter((l) => l !== ""),
      );
    else out.push(a);
  }
  return out;
}

module.exports = { decodeRequest, encodeResponse, fileIdentity, readFlagFiles, serveWorker };
