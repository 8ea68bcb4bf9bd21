/**
 * Blob upload sessions: `uploads/<uuid>/info.json` (owning repository) and `uploads/<uuid>/data` (the bytes
 * so far). Sessions live on disk, so they survive a restart. Requests on one session are serialized;
 * different sessions never share state. A chunk is all-or-nothing: when its stream fails or its
 * Content-Range does not match what arrived, the data file is truncated back and the running hash restored.
 * Closing a session verifies the sha256 of the whole upload before the bytes move to their content address.
 *
 * Sessions are bounded (see limits.ts): at most `maxUploads` are open, at most `maxUploadsPerClient` of one
 * client (then 429 TOOMANYREQUESTS), and one no request touched for `uploadIdleMs` is removed by `sweep()`,
 * directory and memory alike. Sessions left by an earlier run have no client: only the global cap counts them. The in-memory
 * table of open sessions (last touch, running hash) is the authority for both; `open()` rebuilds it from
 * disk, taking each session's last touch from its data file's mtime.
 *
 * The running hash is src/oci/verifying-stream.ts's Verifier, continued by each chunk's VerifyStream and copied before it (the
 * state a failed chunk goes back to); a session of an earlier run has none, and its file is hashed at the end by
 * src/oci/digest.ts's `fileDigest`.
 */
import { randomUUID } from "node:crypto";
import { type Digest, fileDigest } from "../oci/digest";
import { Verifier, VerifyStream } from "../oci/verifying-stream";
import { createWriteStream, promises as fsp } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DEFAULT_LIMITS, type RegistryLimits } from "./limits";
import { ErrorAnswer } from "./error-answer";
import type { Storage } from "./storage";
import { uploadRange } from "./upload-range";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface UploadSession {
  id: string;
  repo: string;
  /** Bytes received so far. */
  size: number;
}

/** A chunk to append: its body, and the byte range and length the client declared (checked when present). */
export interface Chunk {
  body: Readable;
  range?: { start: number; end: number };
  contentLength?: number;
  /** Called with the size of each piece received (for the request log). */
  onBytes?: (n: number) => void;
}

export interface UploadsOptions
  extends Partial<Pick<RegistryLimits, "maxUploads" | "maxUploadsPerClient" | "uploadIdleMs">> {
  /** The clock (tests). */
  now?: () => number;
}

/** What is kept in memory per open session. */
interface OpenSession {
  /** When a request last touched it (ms, the Uploads clock). */
  touched: number;
  /** Who opened it (`user NAME` or `address IP`; undefined for sessions of an earlier run). */
  client?: string;
  /** Running sha256 and count, valid while its `bytes` equal the data file's size. Lost on restart. */
  hash?: Verifier;
}

export class Uploads {
  private readonly sessions = new Map<string, OpenSession>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly maxUploads: number;
  private readonly maxPerClient: number;
  private readonly idleMs: number;
  private readonly now: () => number;
  private sweeping: Promise<number> | undefined;

  private constructor(
    private readonly storage: Storage,
    opts: UploadsOptions,
  ) {
    this.maxUploads = opts.maxUploads ?? DEFAULT_LIMITS.maxUploads;
    this.maxPerClient = opts.maxUploadsPerClient ?? DEFAULT_LIMITS.maxUploadsPerClient;
    this.idleMs = opts.uploadIdleMs ?? DEFAULT_LIMITS.uploadIdleMs;
    this.now = opts.now ?? Date.now;
  }

  /** The sessions of `storage` (those left by an earlier run included), idle ones already swept. */
  static async open(storage: Storage, opts: UploadsOptions = {}): Promise<Uploads> {
    const up = new Uploads(storage, opts);
    for (const id of await fsp.readdir(storage.uploadsDir()).catch(() => [] as string[])) {
      if (!UUID_RE.test(id)) continue;
      const st = await fsp.stat(up.dataPath(id)).catch(() => fsp.stat(up.dir(id)).catch(() => undefined));
      if (st) up.sessions.set(id, { touched: Math.min(st.mtimeMs, up.now()) });
    }
    await up.sweep();
    return up;
  }

  /** How many sessions are open. */
  get openCount(): number {
    return this.sessions.size;
  }

  private dir(id: string): string {
    return join(this.storage.uploadsDir(), id);
  }

  private dataPath(id: string): string {
    return join(this.dir(id), "data");
  }

  private touch(id: string): void {
    const s = this.sessions.get(id);
    if (s) s.touched = this.now();
  }

  /** Runs `fn` once every earlier operation on session `id` has finished. */
  private async serialized<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(id, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /** The open sessions of `client`. */
  private sessionsOf(client: string): OpenSession[] {
    return [...this.sessions.values()].filter((s) => s.client === client);
  }

  /**
   * Opens a session for `client` (see OpenSession.client); 429 TOOMANYREQUESTS when `maxUploads` are open, or
   * `maxUploadsPerClient` of this client, and none is idle long enough to sweep.
   */
  async create(repo: string, client?: string): Promise<UploadSession> {
    const full = (): boolean =>
      this.sessions.size >= this.maxUploads ||
      (client !== undefined && this.sessionsOf(client).length >= this.maxPerClient);
    if (full()) {
      await this.sweep();
      if (this.sessions.size >= this.maxUploads)
        throw this.tooMany(
          [...this.sessions.values()],
          `too many open upload sessions (${this.sessions.size}, the limit is ${this.maxUploads})`,
        );
      if (client !== undefined) {
        const mine = this.sessionsOf(client);
        if (mine.length >= this.maxPerClient)
          throw this.tooMany(
            mine,
            `too many open upload sessions of ${client} (${mine.length}, the limit per client is ${this.maxPerClient})`,
          );
      }
    }
    const id = randomUUID();
    // Claimed before the first await, so concurrent creates never overshoot the bounds.
    this.sessions.set(id, { touched: this.now(), client, hash: new Verifier() });
    try {
      const dir = this.dir(id);
      await fsp.mkdir(dir, { recursive: true });
      await fsp.writeFile(join(dir, "data"), "");
      await this.storage.writeAtomic(
        join(dir, "info.json"),
        JSON.stringify({ repo, started: new Date().toISOString() }),
      );
    } catch (e) {
      await this.remove(id);
      throw e;
    }
    return { id, repo, size: 0 };
  }

  /**
   * 429 for a full set of `sessions`, with Retry-After: the seconds until the oldest of them is idle long enough to
   * be swept, at least 1 and at most uploadIdleMs (a session touched since only moves that later).
   */
  private tooMany(sessions: OpenSession[], what: string): ErrorAnswer {
    let oldest = Infinity;
    for (const s of sessions) oldest = Math.min(oldest, s.touched);
    const bound = Math.max(1, Math.ceil(this.idleMs / 1000));
    const retryAfter = Math.min(bound, Math.max(1, Math.ceil((oldest + this.idleMs - this.now()) / 1000)));
    return new ErrorAnswer(
      429,
      "TOOMANYREQUESTS",
      `${what}: finish or cancel some, or retry in ${retryAfter} s (idle sessions expire after ${bound} s)`,
      { open: this.sessions.size, limit: this.maxUploads, limitPerClient: this.maxPerClient },
      { "Retry-After": String(retryAfter) },
    );
  }

  /** A request's work on session `id`: serialized with the others on it, and touching it before and after. */
  private async op<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.touch(id);
    try {
      return await this.serialized(id, fn);
    } finally {
      this.touch(id);
    }
  }

  /** The session `id` of `repo`; 404 BLOB_UPLOAD_UNKNOWN when there is none. */
  async get(repo: string, id: string): Promise<UploadSession> {
    const unknown = new ErrorAnswer(
      404,
      "BLOB_UPLOAD_UNKNOWN",
      `upload ${JSON.stringify(id)} is unknown to repository ${repo}`,
      {
        upload: id,
      },
    );
    if (!UUID_RE.test(id) || !this.sessions.has(id)) throw unknown;
    this.touch(id);
    try {
      const info = JSON.parse(await fsp.readFile(join(this.dir(id), "info.json"), "utf8")) as { repo?: unknown };
      if (info.repo !== repo) throw unknown;
      const st = await fsp.stat(this.dataPath(id));
      return { id, repo, size: st.size };
    } catch (e) {
      if (e instanceof ErrorAnswer) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || e instanceof SyntaxError) throw unknown;
      throw e;
    }
  }

  /** Appends a chunk; 416 (nothing appended) when its declared range does not continue the upload. */
  append(repo: string, id: string, chunk: Chunk): Promise<UploadSession> {
    return this.op(id, async () => this.appendLocked(await this.get(repo, id), chunk));
  }

  private async appendLocked(s: UploadSession, chunk: Chunk): Promise<UploadSession> {
    const { range, contentLength } = chunk;
    const rangeError = (why: string): ErrorAnswer =>
      new ErrorAnswer(
        416,
        "BLOB_UPLOAD_INVALID",
        `upload ${s.id}: ${why}`,
        { size: s.size },
        {
          Location: `/v2/${s.repo}/blobs/uploads/${s.id}`,
          Range: uploadRange(s.size),
          "Docker-Upload-UUID": s.id,
        },
      );
    if (range) {
      if (range.start !== s.size) {
        throw rangeError(`chunk starts at byte ${range.start} but ${s.size} bytes were received so far`);
      }
      if (contentLength !== undefined && contentLength !== range.end - range.start + 1) {
        throw rangeError(`Content-Range ${range.start}-${range.end} does not match Content-Length ${contentLength}`);
      }
    }
    const session = this.sessions.get(s.id);
    const running = session?.hash && session.hash.bytes === s.size ? session.hash : undefined;
    const snapshot = running?.copy();
    const setHash = (hash: Verifier | undefined): void => {
      if (session) session.hash = hash;
    };
    // Without a running hash (a session of an earlier run) the stream only counts; finish() hashes the file.
    const verifier = running ?? new Verifier({ hash: false });
    const start = verifier.bytes;
    let reported = start;
    const meter = new VerifyStream({
      verifier,
      onBytes: (total) => {
        chunk.onBytes?.(total - reported);
        reported = total;
      },
    });
    const received = (): number => verifier.bytes - start;
    const file = this.dataPath(s.id);
    const out = createWriteStream(file, { flags: "a" });
    try {
      await pipeline(chunk.body, meter, out);
      if (range && received() !== range.end - range.start + 1) {
        throw rangeError(
          `Content-Range ${range.start}-${range.end} announced ${range.end - range.start + 1} bytes, got ${received()}`,
        );
      }
      if (contentLength !== undefined && received() !== contentLength) {
        throw rangeError(`Content-Length ${contentLength} announced, the body ended after ${received()} bytes`);
      }
    } catch (e) {
      // All or nothing: drop the partial chunk so the session stays consistent for a retry. pipeline() rejects at the
      // first error while a write may still be in flight; truncating before the file is closed would let that
      // (appending) write land after the truncation.
      if (!out.closed) await new Promise<void>((resolve) => out.once("close", () => resolve()));
      await fsp.truncate(file, s.size).catch(() => {});
      setHash(snapshot);
      throw e;
    }
    setHash(running);
    return { ...s, size: s.size + received() };
  }

  /**
   * Closes a session: appends the optional final chunk, checks the whole upload against `digest`, moves it
   * to the blob store and links it into the repository. A digest mismatch ends the session (400 DIGEST_INVALID).
   */
  finish(repo: string, id: string, digest: Digest, chunk?: Chunk): Promise<number> {
    return this.op(id, async () => {
      let s = await this.get(repo, id);
      if (chunk) s = await this.appendLocked(s, chunk);
      const session = this.sessions.get(id);
      const state = session?.hash;
      if (session) session.hash = undefined; // a finished hash cannot be updated or read again
      const actual = (state?.bytes === s.size ? state.digest() : undefined) ?? (await fileDigest(this.dataPath(id)));
      if (actual !== digest) {
        await this.remove(id);
        throw new ErrorAnswer(400, "DIGEST_INVALID", `upload ${id}: content has digest ${actual}, not ${digest}`, {
          expected: digest,
          actual,
          size: s.size,
        });
      }
      await this.storage.commitBlob(this.dataPath(id), digest);
      await this.storage.linkBlob(repo, digest);
      await this.remove(id);
      return s.size;
    });
  }

  /** Cancels a session (404 BLOB_UPLOAD_UNKNOWN when there is none). */
  cancel(repo: string, id: string): Promise<void> {
    return this.op(id, async () => {
      await this.get(repo, id);
      await this.remove(id);
    });
  }

  /**
   * Removes the sessions no request touched for `uploadIdleMs` (abandoned pushes), skipping any a request
   * is working on or waiting for; returns how many. Concurrent calls share one pass.
   */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const idle = (id: string): boolean => {
      const s = this.sessions.get(id);
      return s !== undefined && this.now() - s.touched >= this.idleMs;
    };
    let removed = 0;
    for (const id of [...this.sessions.keys()]) {
      if (!idle(id) || this.locks.has(id)) continue;
      await this.serialized(id, async () => {
        if (!idle(id)) return; // touched while we waited
        await this.remove(id);
        removed++;
      });
    }
    return removed;
  }

  /** Ends a session whatever its state (used when a monolithic upload fails). */
  async discard(id: string): Promise<void> {
    await this.serialized(id, () => this.remove(id));
  }

  private async remove(id: string): Promise<void> {
    this.sessions.delete(id);
    await fsp.rm(this.dir(id), { recursive: true, force: true });
  }
}
