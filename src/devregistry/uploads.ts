/**
 * Blob upload sessions: `uploads/<uuid>/info.json` (owning repository) and `uploads/<uuid>/data` (the bytes
 * so far). Sessions live on disk, so they survive a restart. Requests on one session are serialized;
 * different sessions never share state. A chunk is all-or-nothing: when its stream fails or its
 * Content-Range does not match what arrived, the data file is truncated back and the running hash restored.
 * Closing a session verifies the sha256 of the whole upload before the bytes move to their content address.
 */
import { createHash, Hash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import { join } from "node:path";
import { Readable, Transform, TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { RegistryError, uploadRange } from "./http";
import type { Storage } from "./storage";

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

/** Hashes (when given a hash) and counts what flows through. */
class Meter extends Transform {
  bytes = 0;
  constructor(
    private readonly hash: Hash | undefined,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }
}

export class Uploads {
  /** Running sha256 per session, valid while its `size` equals the data file's size. Lost on restart. */
  private readonly hashes = new Map<string, { hash: Hash; size: number }>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(private readonly storage: Storage) {}

  private dir(id: string): string {
    return join(this.storage.uploadsDir(), id);
  }

  private dataPath(id: string): string {
    return join(this.dir(id), "data");
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

  async create(repo: string): Promise<UploadSession> {
    const id = randomUUID();
    const dir = this.dir(id);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(join(dir, "data"), "");
    await this.storage.writeAtomic(join(dir, "info.json"), JSON.stringify({ repo, started: new Date().toISOString() }));
    this.hashes.set(id, { hash: createHash("sha256"), size: 0 });
    return { id, repo, size: 0 };
  }

  /** The session `id` of `repo`; 404 BLOB_UPLOAD_UNKNOWN when there is none. */
  async get(repo: string, id: string): Promise<UploadSession> {
    const unknown = new RegistryError(404, "BLOB_UPLOAD_UNKNOWN", `upload ${JSON.stringify(id)} is unknown to repository ${repo}`, {
      upload: id,
    });
    if (!UUID_RE.test(id)) throw unknown;
    try {
      const info = JSON.parse(await fsp.readFile(join(this.dir(id), "info.json"), "utf8")) as { repo?: unknown };
      if (info.repo !== repo) throw unknown;
      const st = await fsp.stat(this.dataPath(id));
      return { id, repo, size: st.size };
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || e instanceof SyntaxError) throw unknown;
      throw e;
    }
  }

  /** Appends a chunk; 416 (nothing appended) when its declared range does not continue the upload. */
  append(repo: string, id: string, chunk: Chunk): Promise<UploadSession> {
    return this.serialized(id, async () => this.appendLocked(await this.get(repo, id), chunk));
  }

  private async appendLocked(s: UploadSession, chunk: Chunk): Promise<UploadSession> {
    const { range, contentLength } = chunk;
    const rangeError = (why: string): RegistryError =>
      new RegistryError(416, "BLOB_UPLOAD_INVALID", `upload ${s.id}: ${why}`, { size: s.size }, {
        Location: `/v2/${s.repo}/blobs/uploads/${s.id}`,
        Range: uploadRange(s.size),
        "Docker-Upload-UUID": s.id,
      });
    if (range) {
      if (range.start !== s.size) {
        throw rangeError(`chunk starts at byte ${range.start} but ${s.size} bytes were received so far`);
      }
      if (contentLength !== undefined && contentLength !== range.end - range.start + 1) {
        throw rangeError(`Content-Range ${range.start}-${range.end} does not match Content-Length ${contentLength}`);
      }
    }
    const state = this.hashes.get(s.id);
    const running = state && state.size === s.size ? state.hash : undefined;
    const snapshot = running?.copy();
    const meter = new Meter(running, chunk.onBytes);
    const file = this.dataPath(s.id);
    try {
      await pipeline(chunk.body, meter, createWriteStream(file, { flags: "a" }));
      if (range && meter.bytes !== range.end - range.start + 1) {
        throw rangeError(`Content-Range ${range.start}-${range.end} announced ${range.end - range.start + 1} bytes, got ${meter.bytes}`);
      }
    } catch (e) {
      // All or nothing: drop the partial chunk so the session stays consistent for a retry.
      await fsp.truncate(file, s.size).catch(() => {});
      if (snapshot) this.hashes.set(s.id, { hash: snapshot, size: s.size });
      else this.hashes.delete(s.id);
      throw e;
    }
    const size = s.size + meter.bytes;
    if (running) this.hashes.set(s.id, { hash: running, size });
    else this.hashes.delete(s.id);
    return { ...s, size };
  }

  /**
   * Closes a session: appends the optional final chunk, checks the whole upload against `digest`, moves it
   * to the blob store and links it into the repository. A digest mismatch ends the session (400 DIGEST_INVALID).
   */
  finish(repo: string, id: string, digest: string, chunk?: Chunk): Promise<number> {
    return this.serialized(id, async () => {
      let s = await this.get(repo, id);
      if (chunk) s = await this.appendLocked(s, chunk);
      const state = this.hashes.get(id);
      const actual =
        state && state.size === s.size ? "sha256:" + state.hash.digest("hex") : await this.hashFile(this.dataPath(id));
      this.hashes.delete(id);
      if (actual !== digest) {
        await this.remove(id);
        throw new RegistryError(400, "DIGEST_INVALID", `upload ${id}: content has digest ${actual}, not ${digest}`, {
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
    return this.serialized(id, async () => {
      await this.get(repo, id);
      await this.remove(id);
    });
  }

  /** Removes sessions nobody touched for `maxAgeMs` (abandoned pushes); returns how many. */
  async sweep(maxAgeMs: number): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const id of await fsp.readdir(this.storage.uploadsDir()).catch(() => [] as string[])) {
      const st = await fsp.stat(this.dataPath(id)).catch(() => fsp.stat(this.dir(id)).catch(() => undefined));
      if (st && now - st.mtimeMs > maxAgeMs) {
        await this.discard(id);
        removed++;
      }
    }
    return removed;
  }

  /** Ends a session whatever its state (used when a monolithic upload fails). */
  async discard(id: string): Promise<void> {
    await this.serialized(id, () => this.remove(id));
  }

  private async remove(id: string): Promise<void> {
    this.hashes.delete(id);
    await fsp.rm(this.dir(id), { recursive: true, force: true });
  }

  private async hashFile(path: string): Promise<string> {
    const hash = createHash("sha256");
    await pipeline(createReadStream(path), new Meter(hash), async (source: AsyncIterable<Buffer>) => {
      for await (const _ of source) void _;
    });
    return "sha256:" + hash.digest("hex");
  }
}
