/**
 * Request bodies handed over chunk by chunk (ChunkSource), whose memory the source may reuse; the pump that writes them
 * into a request (http.ts); and the file source, FileChunks: a file's bytes `[start, end)` without allocating per read: READ_CHUNK
 * pieces are read into two buffers used in turn, one read ahead while the other is being sent. The transport asks
 * for the next chunk only once the last one was handed to the socket, so its buffer is free again by then.
 *
 * Why: fresh 1 MiB buffers (what fs.createReadStream gives) cost a page fault per 4 KiB on first touch and then
 * garbage collection; on a 158 MB push that was about a quarter of the client's CPU time (issue #43 item 3).
 */
import { promises as fsp } from "node:fs";
import { PipelineError } from "../errors";
import type { ClientRequest } from "node:http";
import type { Readable } from "node:stream";

/**
 * A body handed over chunk by chunk whose memory the source may reuse (FileChunks below): the transport asks for the
 * next chunk only once the last one has been written to the socket (its write callback ran), and closes the source
 * when the request is over, however it ended.
 */
export interface ChunkSource {
  /** The next chunk, or undefined at the end. A rejection fails the request (a PipelineError as it is). */
  next(): Promise<Buffer | undefined>;
  close(): void;
}

export function isReadable(body: Readable | ChunkSource): body is Readable {
  return "pipe" in body;
}

/**
 * Writes `source`'s chunks into `r`, each once the one before was written (so the source may reuse its buffer), then
 * ends the request. The source's errors reject (the caller fails the request with them); the request's own errors
 * are its 'error' event's, so a write that fails or a request that closes only stops the pump. The source is closed
 * either way.
 */
export async function pump(r: ClientRequest, source: ChunkSource): Promise<void> {
  try {
    for (let chunk = await source.next(); chunk !== undefined; chunk = await source.next()) {
      const written = await new Promise<boolean>((resolve) => {
        if (r.destroyed) return resolve(false);
        const closed = () => resolve(false);
        r.once("close", closed);
        r.write(chunk, (e) => {
          r.off("close", closed);
          resolve(!e);
        });
      });
      if (!written) return;
    }
    if (!r.destroyed) r.end();
  } finally {
    source.close();
  }
}

/** Read size for blobs uploaded from files. */
export const READ_CHUNK = 1024 * 1024;

/**
 * Reads `path` from `start` to `end` (exclusive). `each(chunk, offset)` sees every chunk before it is handed out
 * (hashing, progress) and may throw to fail the body. A chunk is valid until next() is called again. A file that
 * ends before `end`, or whose size is not `fileSize` (a blob's descriptor size: checked once it is open, before a
 * byte is handed out), fails with E_DIGEST_MISMATCH naming `what`.
 */
export interface FileChunksOptions {
  each?: (chunk: Buffer, offset: number) => void;
  /** The size the whole file must have. */
  fileSize?: number;
  chunkSize?: number;
}

export class FileChunks implements ChunkSource {
  private readonly bufs: [Buffer, Buffer];
  private turn = 0;
  private pos: number;
  private ahead?: Promise<{ chunk: Buffer; offset: number } | undefined>;
  private fh?: Promise<fsp.FileHandle>;
  private closed = false;

  constructor(
    private readonly path: string,
    start: number,
    private readonly end: number,
    private readonly what: string,
    private readonly opts: FileChunksOptions = {},
  ) {
    this.pos = start;
    const size = Math.max(1, Math.min(opts.chunkSize ?? READ_CHUNK, end - start));
    this.bufs = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
  }

  async next(): Promise<Buffer | undefined> {
    const got = await (this.ahead ?? this.read());
    this.ahead = undefined;
    if (got === undefined) return undefined;
    const { chunk, offset } = got;
    this.opts.each?.(chunk, offset);
    if (this.pos < this.end && !this.closed) {
      // Read the next piece into the other buffer while this one is sent; its error waits for the next next().
      const ahead = this.read();
      ahead.catch(() => {});
      this.ahead = ahead;
    }
    return chunk;
  }

  close(): void {
    this.closed = true;
    const fh = this.fh;
    this.fh = undefined;
    // FileHandle.close waits for a read in flight.
    void fh?.then((h) => h.close()).catch(() => {});
  }

  private async open(): Promise<fsp.FileHandle> {
    const fh = await fsp.open(this.path, "r");
    const want = this.opts.fileSize;
    const size = want === undefined ? want : (await fh.stat()).size;
    if (size !== want) {
      await fh.close();
      throw new PipelineError(
        "E_DIGEST_MISMATCH",
        `${this.what}: the file has ${size} bytes, its descriptor says ${want}`,
      );
    }
    return fh;
  }

  private async read(): Promise<{ chunk: Buffer; offset: number } | undefined> {
    if (this.pos >= this.end) return undefined;
    if (this.closed) throw new PipelineError("E_BLOB_READ", `${this.what}: read after close`);
    this.fh ??= this.open();
    const fh = await this.fh;
    const buf = this.bufs[this.turn];
    this.turn ^= 1;
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, this.end - this.pos), this.pos);
    if (bytesRead === 0) {
      throw new PipelineError(
        "E_DIGEST_MISMATCH",
        `${this.what}: content ended at byte ${this.pos}, expected ${this.end}`,
      );
    }
    const offset = this.pos;
    this.pos += bytesRead;
    return { chunk: buf.subarray(0, bytesRead), offset };
  }
}
