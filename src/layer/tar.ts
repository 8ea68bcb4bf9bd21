/**
 * A streaming, deterministic tar writer: POSIX ustar headers plus PAX extended headers ('x') where ustar
 * cannot hold a value (paths or link names over 100 bytes or not ASCII, sizes or times past the octal
 * fields). Headers carry no host facts: uid/gid 0 unless given, empty uname/gname, one mtime for every
 * entry, no atime/ctime records, and PAX header names without a PID (`<dir>/PaxHeaders/<base>`).
 *
 * The bytes match GNU tar's for the same entries with
 *   `tar --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
 *        --owner=0 --group=0 --numeric-owner --mtime=@N -b 1`
 * (the unit tests check that byte for byte).
 *
 * File content is read from disk as the stream is consumed: small files a few at a time ahead of the
 * consumer (bounded count and bytes), large files in 1 MiB chunks, so a layer is never held in memory.
 */
import * as fs from "node:fs";
import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";

export interface TarEntry {
  /** Path inside the archive, without a leading "/" (a directory's trailing "/" is added when missing). */
  path: string;
  type: "file" | "dir" | "symlink";
  /** Permission bits (07777); the file type bits are implied by `type`. */
  mode: number;
  /** File size. With `content` it must equal content.length; with `source` it is taken from the file when absent. */
  size?: number;
  /** File content is read from this path when the entry is reached. */
  source?: string;
  /** File content held in memory (small generated files). */
  content?: Buffer;
  /** Symlink target. */
  linkname?: string;
  /** Owner ids; default 0. */
  uid?: number;
  gid?: number;
}

export interface TarStreamOptions {
  /** Seconds since the epoch, written as every entry's mtime. */
  mtime: number;
}

export const BLOCK = 512;
/** Largest value a 12-byte octal field (11 digits) holds; larger sizes and times go to PAX records. */
const MAX_OCTAL_11 = 0o77777777777;
/** Largest value an 8-byte octal field (7 digits) holds. */
const MAX_OCTAL_7 = 0o7777777;
/** Files up to this size are read whole, ahead of the consumer; larger ones are streamed in chunks. */
const SMALL_FILE = 1 << 20;
const CHUNK = 1 << 20;
/** Output is gathered into chunks of about this size: fewer, larger writes downstream (gzip). */
const BATCH = 1 << 20;
/** Read-ahead window for small files. */
const PREFETCH_COUNT = 64;
const PREFETCH_BYTES = 16 << 20;

const ZEROS = Buffer.alloc(BLOCK * 2);

function tarError(message: string, cause?: unknown): PipelineError {
  return new PipelineError("E_TAR", message, cause !== undefined ? { cause } : undefined);
}

function writeOctal(buf: Buffer, off: number, len: number, value: number, what: string): void {
  const s = value.toString(8).padStart(len - 1, "0");
  if (s.length > len - 1 || value < 0 || !Number.isInteger(value)) throw tarError(`tar: ${what} ${value} does not fit its header field`);
  buf.write(s, off, "ascii");
  buf[off + len - 1] = 0;
}

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return false;
  return true;
}

/** One PAX record: "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included. */
export function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`, "utf8");
  let len = body + 1;
  while (String(len).length + body !== len) len = String(len).length + body;
  return Buffer.from(`${len} ${key}=${value}\n`, "utf8");
}

interface HeaderFields {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: Buffer;
  /** ustar entries get devmajor/devminor "0000000"; PAX headers leave them NUL (as GNU tar does). */
  devNumbers: boolean;
}

function ustarHeader(f: HeaderFields): Buffer {
  const h = Buffer.alloc(BLOCK);
  f.name.copy(h, 0, 0, Math.min(f.name.length, 100));
  writeOctal(h, 100, 8, f.mode & 0o7777, "mode");
  writeOctal(h, 108, 8, f.uid, "uid");
  writeOctal(h, 116, 8, f.gid, "gid");
  writeOctal(h, 124, 12, f.size, "size");
  writeOctal(h, 136, 12, f.mtime, "mtime");
  h.write(f.typeflag, 156, "ascii");
  if (f.linkname) f.linkname.copy(h, 157, 0, Math.min(f.linkname.length, 100));
  h.write("ustar\u000000", 257, "ascii");
  if (f.devNumbers) {
    writeOctal(h, 329, 8, 0, "devmajor");
    writeOctal(h, 337, 8, 0, "devminor");
  }
  // Checksum: sum of all bytes with the checksum field taken as eight spaces; written "%06o\0 ".
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += h[i];
  h.write(sum.toString(8).padStart(6, "0"), 148, "ascii");
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

function padding(size: number): Buffer | null {
  const rem = size % BLOCK;
  return rem === 0 ? null : ZEROS.subarray(0, BLOCK - rem);
}

/** The PAX header's own name: `<dir>/PaxHeaders/<base>` (GNU's `%d/PaxHeaders/%f`), no PID. */
function paxHeaderName(path: string): Buffer {
  const p = path.endsWith("/") ? path.slice(0, -1) : path;
  return Buffer.from(`${posix.dirname(p)}/PaxHeaders/${posix.basename(p)}`, "utf8");
}

interface Prepared {
  entry: TarEntry;
  /** Header block(s): the PAX header, its records and padding, and the ustar header. */
  header: Buffer[];
  size: number;
  /** For small files: their content, being read ahead. */
  data?: Promise<Buffer>;
}

/** Validates an entry and builds its header blocks. */
function prepare(entry: TarEntry, size: number, mtime: number): Buffer[] {
  if (typeof entry.path !== "string" || entry.path === "" || entry.path.includes("\0")) {
    throw tarError(`tar: invalid entry path ${JSON.stringify(entry.path)}`);
  }
  let path = entry.path;
  let typeflag: string;
  switch (entry.type) {
    case "file":
      typeflag = "0";
      break;
    case "dir":
      typeflag = "5";
      if (!path.endsWith("/")) path += "/";
      break;
    case "symlink":
      typeflag = "2";
      if (typeof entry.linkname !== "string" || entry.linkname === "" || entry.linkname.includes("\0")) {
        throw tarError(`tar: symlink ${JSON.stringify(entry.path)} has an invalid target ${JSON.stringify(entry.linkname)}`);
      }
      break;
    default:
      throw tarError(`tar: entry ${JSON.stringify(entry.path)} has unknown type ${JSON.stringify((entry as TarEntry).type)}`);
  }
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
    throw tarError(`tar: entry ${JSON.stringify(entry.path)} has invalid mode ${entry.mode}`);
  }
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  const name = Buffer.from(path, "utf8");
  const linkname = entry.type === "symlink" ? Buffer.from(entry.linkname!, "utf8") : undefined;

  const records: Buffer[] = [];
  if (name.length > 100 || !isAscii(name)) records.push(paxRecord("path", path));
  if (linkname && (linkname.length > 100 || !isAscii(linkname))) records.push(paxRecord("linkpath", entry.linkname!));
  if (size > MAX_OCTAL_11) records.push(paxRecord("size", String(size)));
  if (mtime > MAX_OCTAL_11) records.push(paxRecord("mtime", String(mtime)));
  if (uid > MAX_OCTAL_7) records.push(paxRecord("uid", String(uid)));
  if (gid > MAX_OCTAL_7) records.push(paxRecord("gid", String(gid)));

  const header = ustarHeader({
    name,
    mode: entry.mode,
    uid: Math.min(uid, MAX_OCTAL_7),
    gid: Math.min(gid, MAX_OCTAL_7),
    size: size > MAX_OCTAL_11 ? 0 : size,
    mtime: Math.min(mtime, MAX_OCTAL_11),
    typeflag,
    linkname,
    devNumbers: true,
  });
  if (records.length === 0) return [header];
  const body = Buffer.concat(records);
  const pax = ustarHeader({
    name: paxHeaderName(path),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: Math.min(mtime, MAX_OCTAL_11),
    typeflag: "x",
    devNumbers: false,
  });
  const pad = padding(body.length);
  return pad ? [pax, body, pad, header] : [pax, body, header];
}

async function readFull(fh: FileHandle, buf: Buffer, position: number, source: string, expected: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) {
      throw tarError(`tar: ${source} is shorter than expected (${position + off} of ${expected} bytes): did it change while the layer was built?`);
    }
    off += bytesRead;
  }
}

async function openSource(source: string): Promise<FileHandle> {
  try {
    return await fsp.open(source, "r");
  } catch (e) {
    throw tarError(`tar: cannot open ${source}: ${(e as Error).message}`, e);
  }
}

/**
 * Reads a whole small file. Uses the callback fs API: for thousands of small files it is several times
 * faster than fs.promises' FileHandle (measured: 5,000 files, ~70 ms against ~250 ms).
 */
function readSmall(source: string, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  if (size === 0) return Promise.resolve(buf);
  return new Promise((resolve, reject) => {
    fs.open(source, "r", (err, fd) => {
      if (err) return reject(tarError(`tar: cannot open ${source}: ${err.message}`, err));
      const finish = (e: Error | null) => fs.close(fd, () => (e ? reject(e) : resolve(buf)));
      const step = (off: number) => {
        fs.read(fd, buf, off, size - off, off, (e, n) => {
          if (e) return finish(tarError(`tar: cannot read ${source}: ${e.message}`, e));
          if (n === 0) return finish(tarError(`tar: ${source} is shorter than expected (${off} of ${size} bytes): did it change while the layer was built?`));
          if (off + n < size) return step(off + n);
          finish(null);
        });
      };
      step(0);
    });
  });
}

/** Gathers small buffers into chunks of about BATCH bytes. */
class Batcher {
  private parts: Buffer[] = [];
  private bytes = 0;
  add(b: Buffer | null): Buffer | null {
    if (!b || b.length === 0) return null;
    this.parts.push(b);
    this.bytes += b.length;
    return this.bytes >= BATCH ? this.flush() : null;
  }
  flush(): Buffer | null {
    if (this.bytes === 0) return null;
    const out = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return out;
  }
}

async function* generateTar(entries: Iterable<TarEntry>, mtime: number): AsyncGenerator<Buffer> {
  const it = entries[Symbol.iterator]();
  const queue: Prepared[] = [];
  let queuedBytes = 0;
  let done = false;

  const fill = () => {
    while (!done && queue.length < PREFETCH_COUNT && queuedBytes < PREFETCH_BYTES) {
      const r = it.next();
      if (r.done) {
        done = true;
        break;
      }
      const entry = r.value;
      let size = 0;
      let data: Promise<Buffer> | undefined;
      if (entry.type === "file") {
        if (entry.content !== undefined) {
          if (entry.size !== undefined && entry.size !== entry.content.length) {
            throw tarError(`tar: entry ${JSON.stringify(entry.path)} has size ${entry.size} but ${entry.content.length} bytes of content`);
          }
          size = entry.content.length;
        } else if (typeof entry.source === "string") {
          if (entry.size === undefined) {
            // Size comes from the file itself: handled when reached (streamed).
            queue.push({ entry, header: [], size: -1 });
            continue;
          }
          size = entry.size;
          if (size <= SMALL_FILE) {
            data = readSmall(entry.source, size);
            data.catch(() => undefined); // awaited in order below; don't report it as unhandled meanwhile
            queuedBytes += size;
          }
        } else {
          throw tarError(`tar: file entry ${JSON.stringify(entry.path)} has neither source nor content`);
        }
        if (!Number.isSafeInteger(size) || size < 0) throw tarError(`tar: entry ${JSON.stringify(entry.path)} has invalid size ${size}`);
      }
      queue.push({ entry, header: prepare(entry, size, mtime), size, data });
    }
  };

  const out = new Batcher();
  try {
    for (;;) {
      fill();
      const item = queue.shift();
      if (!item) break;
      const { entry } = item;
      if (item.data) queuedBytes -= item.size;
      if (item.size === -1) {
        // A source file of unknown size: open, stat, then stream it.
        const fh = await openSource(entry.source!);
        try {
          const st = await fh.stat();
          if (!st.isFile()) throw tarError(`tar: ${entry.source} is not a regular file`);
          yield* streamFile(out, prepare(entry, st.size, mtime), fh, entry.source!, st.size);
        } finally {
          await fh.close();
        }
      } else {
        for (const h of item.header) {
          const b = out.add(h);
          if (b) yield b;
        }
        if (entry.type === "file") {
          if (entry.content !== undefined) {
            const b = out.add(entry.content);
            if (b) yield b;
          } else if (item.data) {
            const b = out.add(await item.data);
            if (b) yield b;
          } else {
            const fh = await openSource(entry.source!);
            try {
              yield* streamFile(out, [], fh, entry.source!, item.size);
            } finally {
              await fh.close();
            }
            continue; // streamFile wrote the padding
          }
          const b = out.add(padding(item.size));
          if (b) yield b;
        }
      }
    }
    const b = out.add(ZEROS);
    if (b) yield b;
    const last = out.flush();
    if (last) yield last;
  } finally {
    // Stopped early (error or consumer gone): let read-aheads finish; their handles close themselves.
    for (const q of queue) q.data?.catch(() => undefined);
  }
}

async function* streamFile(out: Batcher, header: Buffer[], fh: FileHandle, source: string, size: number): AsyncGenerator<Buffer> {
  for (const h of header) {
    const b = out.add(h);
    if (b) yield b;
  }
  let pos = 0;
  while (pos < size) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
    await readFull(fh, chunk, pos, source, size);
    pos += chunk.length;
    const b = out.add(chunk);
    if (b) yield b;
  }
  const b = out.add(padding(size));
  if (b) yield b;
}

/**
 * A tar archive of `entries`, in the order given, as a byte stream. The stream pulls entries (and reads
 * files) only as fast as it is consumed. Errors (unreadable or shrinking files, invalid entries) are
 * PipelineErrors emitted on the stream.
 */
export function tarStream(entries: Iterable<TarEntry>, opts: TarStreamOptions): Readable {
  if (!Number.isSafeInteger(opts.mtime) || opts.mtime < 0) {
    throw new PipelineError("E_TAR", `tar: mtime must be a non-negative integer number of seconds, got ${opts.mtime}`);
  }
  return Readable.from(generateTar(entries, opts.mtime), { objectMode: false, highWaterMark: BATCH });
}
