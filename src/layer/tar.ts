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
 * File content is read from disk as the stream is consumed, straight into 1 MiB output buffers, so a layer is
 * never held in memory.
 */
import * as fs from "node:fs";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { openFileInside } from "./host-root";
import { DuplicateFiles } from "./tar-links";

export interface TarEntry {
  /** Path inside the archive, without a leading "/" (a directory's trailing "/" is added when missing). */
  path: string;
  /** "hardlink": another name for the earlier file entry `linkname` (typeflag '1', no content). */
  type: "file" | "dir" | "symlink" | "hardlink";
  /** Permission bits (07777); the file type bits are implied by `type`. */
  mode: number;
  /** File size. With `content` it must equal content.length; with `source` it is taken from the file when absent. */
  size?: number;
  /** File content is read from this path when the entry is reached. */
  source?: string;
  /** A real directory `source` must be inside when opened (host-root.ts's openFileInside); links are not followed. */
  within?: string;
  /** File content held in memory (small generated files). */
  content?: Buffer;
  /** Symlink target, or the archive path of a hard link's file. */
  linkname?: string;
  /** Owner ids; default 0. */
  uid?: number;
  gid?: number;
}

export interface TarStreamOptions {
  /** Seconds since the epoch, written as every entry's mtime. */
  mtime: number;
  /**
   * Write a file whose content, mode and owner equal an earlier file's as a hard link to it (./tar-links.ts), as GNU
   * tar writes files that are hard links on disk; decided by content, so the bytes never depend on inodes.
   */
  linkDuplicates?: boolean;
}

export const BLOCK = 512;
/** Largest value a 12-byte octal field (11 digits) holds; larger sizes and times go to PAX records. */
const MAX_OCTAL_11 = 0o77777777777;
/** Largest value an 8-byte octal field (7 digits) holds. */
const MAX_OCTAL_7 = 0o7777777;
/** Output is gathered into chunks of about this size: fewer, larger writes downstream (gzip). */
const BATCH = 1 << 20;

const ZEROS = Buffer.alloc(BLOCK * 2);

function tarError(message: string, cause?: unknown): PipelineError {
  return new PipelineError("E_TAR", message, cause !== undefined ? { cause } : undefined);
}

function writeOctal(buf: Buffer, off: number, len: number, value: number, what: string): void {
  const s = value.toString(8).padStart(len - 1, "0");
  if (s.length > len - 1 || value < 0 || !Number.isInteger(value))
    throw tarError(`tar: ${what} ${value} does not fit its header field`);
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
    case "hardlink":
      typeflag = entry.type === "symlink" ? "2" : "1";
      if (typeof entry.linkname !== "string" || entry.linkname === "" || entry.linkname.includes("\0")) {
        throw tarError(
          `tar: ${entry.type} ${JSON.stringify(entry.path)} has an invalid target ${JSON.stringify(entry.linkname)}`,
        );
      }
      break;
    default:
      throw tarError(
        `tar: entry ${JSON.stringify(entry.path)} has unknown type ${JSON.stringify((entry as TarEntry).type)}`,
      );
  }
  if (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777) {
    throw tarError(`tar: entry ${JSON.stringify(entry.path)} has invalid mode ${entry.mode}`);
  }
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  const name = Buffer.from(path, "utf8");
  const linkname =
    entry.type === "symlink" || entry.type === "hardlink" ? Buffer.from(entry.linkname!, "utf8") : undefined;

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

function openSource(source: string, within: string | undefined): number {
  try {
    return within === undefined ? fs.openSync(source, "r") : openFileInside(within, source);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw tarError(`tar: cannot open ${source}: ${(e as Error).message}`, e);
  }
}

/** Reads exactly `len` bytes of the file at `pos` into `buf` at `off` (`size`: the whole file's, for the message). */
function readExactly(
  fd: number,
  source: string,
  buf: Buffer,
  off: number,
  len: number,
  pos: number,
  size: number,
): void {
  for (let done = 0; done < len; ) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, off + done, len - done, pos + done);
    } catch (e) {
      throw tarError(`tar: cannot read ${source}: ${(e as Error).message}`, e);
    }
    if (n === 0)
      throw tarError(
        `tar: ${source} is shorter than expected (${pos + done} of ${size} bytes): did it change while the layer was built?`,
      );
    done += n;
  }
}

/**
 * The archive's bytes, gathered into BATCH-byte buffers: headers are copied in, file content is read straight into
 * them, so a file costs one open, one or two reads and one close, and no buffer of its own.
 */
class Output {
  private buf = Buffer.allocUnsafe(BATCH);
  private off = 0;

  /** Copies `b` in; returns the buffers that filled up (handed downstream, never written again). */
  *put(b: Buffer): Generator<Buffer> {
    let from = 0;
    while (from < b.length) {
      if (this.off === BATCH) yield this.next();
      const n = b.copy(this.buf, this.off, from);
      this.off += n;
      from += n;
    }
  }

  /** Reads `size` bytes of the open file `fd` in. */
  *read(fd: number, source: string, size: number): Generator<Buffer> {
    for (let pos = 0; pos < size; ) {
      if (this.off === BATCH) yield this.next();
      const n = Math.min(BATCH - this.off, size - pos);
      readExactly(fd, source, this.buf, this.off, n, pos, size);
      this.off += n;
      pos += n;
    }
  }

  /** What is left, once the archive is complete. */
  rest(): Buffer | null {
    return this.off === 0 ? null : this.buf.subarray(0, this.off);
  }

  private next(): Buffer {
    const full = this.buf;
    this.buf = Buffer.allocUnsafe(BATCH);
    this.off = 0;
    return full;
  }
}

/*
 * Files are read synchronously, in archive order. Measured on this project's 2-core machines with a 140 MB,
 * 12,883-file node_modules tree: the tar stream alone cost ~1.25 s of CPU with callback reads (each open, read and
 * close a thread-pool round trip, plus a buffer per file) against ~0.85 s read synchronously, and in a layer build
 * that CPU is taken from the deflate threads. GNU tar reads the same way. The page cache serves most reads (Bazel
 * has just written or hashed these files), and the deflate of earlier blocks goes on in the thread pool meanwhile.
 */
function* generateTar(
  entries: Iterable<TarEntry>,
  mtime: number,
  links: DuplicateFiles | undefined,
): Generator<Buffer> {
  const out = new Output();
  const putFile = function* (entry: TarEntry, content: Buffer): Generator<Buffer> {
    const first = links?.firstWith(entry, content);
    if (first !== undefined) {
      for (const h of prepare({ ...entry, type: "hardlink", linkname: first }, 0, mtime)) yield* out.put(h);
      return;
    }
    for (const h of prepare(entry, content.length, mtime)) yield* out.put(h);
    yield* out.put(content);
    const pad = padding(content.length);
    if (pad) yield* out.put(pad);
  };
  for (const entry of entries) {
    if (entry.type !== "file") {
      for (const h of prepare(entry, 0, mtime)) yield* out.put(h);
      continue;
    }
    if (entry.content !== undefined) {
      if (entry.size !== undefined && entry.size !== entry.content.length) {
        throw tarError(
          `tar: entry ${JSON.stringify(entry.path)} has size ${entry.size} but ${entry.content.length} bytes of content`,
        );
      }
      yield* putFile(entry, entry.content);
      continue;
    }
    if (typeof entry.source !== "string")
      throw tarError(`tar: file entry ${JSON.stringify(entry.path)} has neither source nor content`);
    if (entry.size !== undefined && (!Number.isSafeInteger(entry.size) || entry.size < 0)) {
      throw tarError(`tar: entry ${JSON.stringify(entry.path)} has invalid size ${entry.size}`);
    }
    const fd = openSource(entry.source, entry.within);
    try {
      let size = entry.size;
      if (size === undefined) {
        const st = fs.fstatSync(fd);
        if (!st.isFile()) throw tarError(`tar: ${entry.source} is not a regular file`);
        size = st.size;
      }
      if (links?.mayRepeat(entry, size)) {
        // Read whole (these are mostly small: a large file rarely shares its exact size with another).
        const content = Buffer.allocUnsafe(size);
        readExactly(fd, entry.source, content, 0, size, 0, size);
        yield* putFile(entry, content);
        continue;
      }
      for (const h of prepare(entry, size, mtime)) yield* out.put(h);
      yield* out.read(fd, entry.source, size);
      const pad = padding(size);
      if (pad) yield* out.put(pad);
    } finally {
      fs.closeSync(fd);
    }
  }
  yield* out.put(ZEROS);
  const last = out.rest();
  if (last) yield last;
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
  let links: DuplicateFiles | undefined;
  if (opts.linkDuplicates) {
    const all = [...entries];
    links = new DuplicateFiles(all);
    entries = all;
  }
  return Readable.from(generateTar(entries, opts.mtime, links), { objectMode: false, highWaterMark: BATCH });
}
