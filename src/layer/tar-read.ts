/**
 * Reads tar archives (ustar, PAX, GNU long names) as a stream of entries, strictly: it checks header
 * checksums, parses numbers without guessing, refuses entry types it does not know and data on header-only
 * entries, and fails on a truncated archive instead of returning what it got. Meant for our own layers (tests)
 * and for layers from elsewhere that are about to be unpacked.
 *
 * Metadata is capped so that a small hostile archive cannot exhaust memory or time (a few MB of gzip can hold
 * thousands of 1 MiB PAX headers): the extended headers (PAX `x`, GNU `L`/`K`) of one entry together, and each
 * global `g` header, 1 MiB; the global PAX records kept at once, 64 KiB (each record counted as its key and value
 * plus 32 bytes, so a flood of tiny records is capped too: every entry gets a copy of them); all extended-header
 * data of the archive, 256 MiB (limits.ts, $PIPELINE_MAX_TAR_METADATA); a path or link target, 4096 bytes
 * (PATH_MAX: longer ones cannot be created, and readers keep every path). What an entry retains is then a few KiB.
 */
import { isUtf8 } from "node:buffer";
import { createReadStream, promises as fsp } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { PipelineError } from "../errors";
import { DEFAULT_LIMITS, formatSize, howToSet } from "./limits";

export type TarEntryType = "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo";

export interface TarHeader {
  /** Path as stored (PAX `path`, GNU long name, or ustar prefix + name); directories usually end in "/". */
  path: string;
  type: TarEntryType;
  /** Permission bits (07777). */
  mode: number;
  /** Bytes of data that follow (0 for all but files). */
  size: number;
  /** Target of a symlink or hard link, else "". */
  linkname: string;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** PAX records that applied to this entry (global ones included), e.g. { path: "..." }. */
  pax: Record<string, string>;
  /** Byte offset of the entry's (first) header in the archive. */
  offset: number;
}

export interface TarReadEntry extends TarHeader {
  /** The entry's data. Reading it is optional: unread data is skipped before the next entry. */
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /** Most bytes of extended-header data (PAX `x`, GNU `L`/`K`) of one entry together, and of one `g` header. Default 1 MiB. */
  maxMetaSize?: number;
  /** Most bytes of global PAX records kept at once (key + value + 32 per record). Default 64 KiB. */
  maxGlobalMeta?: number;
  /** Most bytes of extended-header data in the whole archive. Default 256 MiB (limits.ts maxTarMetadata). */
  maxArchiveMeta?: number;
  /** Longest path or link target, in bytes. Default 4096. */
  maxPathLength?: number;
}

const RECORD_OVERHEAD = 32;

const BLOCK = 512;

function bad(offset: number, message: string): PipelineError {
  return new PipelineError("E_TAR_READ", `tar: at offset ${offset}: ${message}`);
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer | string>;
  private eof = false;
  /** Bytes consumed so far. */
  pos = 0;
  constructor(input: AsyncIterable<Buffer | string>) {
    this.it = input[Symbol.asyncIterator]();
  }
  private async more(): Promise<boolean> {
    if (this.eof) return false;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
        return false;
      }
      const chunk = typeof r.value === "string" ? Buffer.from(r.value) : r.value;
      if (chunk.length === 0) continue;
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      return true;
    }
  }
  /** Exactly n bytes, or null at a clean end of input; throws on a partial read. */
  async read(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (!(await this.more())) {
        if (this.buf.length === 0) return null;
        throw bad(this.pos, `archive is truncated (wanted ${n} bytes, ${this.buf.length} left)`);
      }
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.pos += n;
    return out;
  }
  /** Up to n bytes (at least 1), as soon as any are available; null at end of input. */
  async some(n: number): Promise<Buffer | null> {
    if (this.buf.length === 0 && !(await this.more())) return null;
    const k = Math.min(n, this.buf.length);
    const out = this.buf.subarray(0, k);
    this.buf = this.buf.subarray(k);
    this.pos += k;
    return out;
  }
}

/**
 * A name's bytes as text, refused unless valid UTF-8: decoding would turn each bad byte into U+FFFD, so
 * "bad\xff1" and "bad\xfe1" would become one file; paths are kept exactly or not at all.
 */
function utf8Name(b: Buffer, what: string, at: number): string {
  const s = b.toString("utf8");
  if (!isUtf8(b))
    throw bad(at, `${what} ${JSON.stringify(s)} is not valid UTF-8 (names are unpacked byte for byte or not at all)`);
  return s;
}

function cstr(b: Buffer, off: number, len: number): Buffer {
  const f = b.subarray(off, off + len);
  const nul = f.indexOf(0);
  return nul === -1 ? f : f.subarray(0, nul);
}

/** A numeric header field: octal (leading spaces or zeros, ended by NUL or space) or GNU base-256. */
function num(b: Buffer, off: number, len: number, what: string, at: number): number {
  const f = b.subarray(off, off + len);
  if (f[0] & 0x80) {
    if (f[0] !== 0x80) throw bad(at, `${what} field uses a negative or oversized base-256 value`);
    let v = 0;
    for (let i = 1; i < f.length; i++) {
      v = v * 256 + f[i];
      if (v > Number.MAX_SAFE_INTEGER) throw bad(at, `${what} field is too large`);
    }
    return v;
  }
  let i = 0;
  while (i < f.length && f[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < f.length; i++) {
    const c = f[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw bad(at, `${what} field is not an octal number`); // its bytes are not quoted: they may be anyone's file
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < f.length; i++) {
    if (f[i] !== 0 && f[i] !== 0x20) throw bad(at, `${what} field has bytes after its terminator`);
  }
  if (digits === 0) return 0;
  return v;
}

function checksumOk(h: Buffer, at: number): boolean {
  const stored = num(h, 148, 8, "checksum", at);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Parses PAX records ("<len> <key>=<value>\n" ...). */
export function parsePax(data: Buffer, at: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0 && isZero(data.subarray(i))) break; // NUL padding some writers leave
    const sp = data.indexOf(0x20, i);
    if (sp === -1 || sp - i > 20) throw bad(at, "malformed PAX record (no length)");
    const lenText = data.toString("latin1", i, sp);
    if (!/^[1-9][0-9]*$/.test(lenText)) throw bad(at, "malformed PAX record length");
    const len = Number(lenText);
    if (i + len > data.length || len < sp - i + 3)
      throw bad(at, `PAX record length ${len} runs past the extended header`);
    const rec = data.subarray(sp + 1, i + len);
    if (rec[rec.length - 1] !== 0x0a) throw bad(at, "PAX record does not end with a newline");
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw bad(at, "PAX record has no key");
    const key = rec.toString("utf8", 0, eq);
    const value = rec.subarray(eq + 1, rec.length - 1);
    out[key] = key === "path" || key === "linkpath" ? utf8Name(value, `PAX ${key}`, at) : value.toString("utf8");
    i += len;
  }
  return out;
}

function paxInt(v: string, key: string, at: number): number {
  // mtime may carry a fraction ("1234.5"); sizes and ids may not.
  const m = key === "mtime" ? /^(-?[0-9]+)(\.[0-9]*)?$/.exec(v) : /^([0-9]+)$/.exec(v);
  if (!m) throw bad(at, `PAX ${key} is not a valid number`);
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw bad(at, `PAX ${key} is out of range`);
  return n;
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "link",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

/**
 * The entries of a tar stream, in order. Each entry's `body` must be consumed (or abandoned) before the
 * next entry is requested; abandoned data is skipped. Throws PipelineError (E_TAR_READ) on anything
 * malformed, including a missing end-of-archive marker.
 */
export async function* readTarEntries(
  input: Readable | AsyncIterable<Buffer>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarReadEntry> {
  const maxMeta = opts.maxMetaSize ?? 1 << 20;
  const maxGlobal = opts.maxGlobalMeta ?? 64 << 10;
  const maxArchiveMeta = opts.maxArchiveMeta ?? DEFAULT_LIMITS.maxTarMetadata;
  const maxPath = opts.maxPathLength ?? 4096;
  const r = new ByteReader(input as AsyncIterable<Buffer>);
  let global: Record<string, string> = {};
  /** Bytes of extended headers read for the coming entry, and in the whole archive. */
  let entryMeta = 0;
  let archiveMeta = 0;
  let local: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let metaStart = -1;

  for (;;) {
    const at = r.pos;
    const h = await r.read(BLOCK);
    if (h === null) throw bad(at, "archive ends without an end-of-archive marker (truncated?)");
    if (isZero(h)) {
      if (metaStart !== -1) throw bad(at, "archive ends right after an extended header");
      return;
    }
    if (!checksumOk(h, at)) throw bad(at, "header checksum does not match (not a tar archive, or corrupt)");
    const flag = String.fromCharCode(h[156]);
    const size = num(h, 124, 12, "size", at);
    if (!Number.isSafeInteger(size)) throw bad(at, "size is out of range");

    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > maxMeta) throw bad(at, `extended header of ${size} bytes exceeds the ${maxMeta}-byte limit`);
      if (flag !== "g" && entryMeta + size > maxMeta) {
        throw bad(
          at,
          `extended headers of one entry total more than ${maxMeta} bytes (${entryMeta + size} so far), over the per-entry limit`,
        );
      }
      if (archiveMeta + size > maxArchiveMeta) {
        throw bad(
          at,
          `extended headers total more than ${formatSize(maxArchiveMeta)}, the limit per layer (raise it with ${howToSet("maxTarMetadata")})`,
        );
      }
      archiveMeta += size;
      if (flag !== "g") entryMeta += size;
      const data = size === 0 ? Buffer.alloc(0) : await r.read(size);
      if (data === null) throw bad(at, "archive is truncated inside an extended header");
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad && (await r.read(pad)) === null) throw bad(at, "archive is truncated inside an extended header");
      if (metaStart === -1) metaStart = at;
      if (flag === "x") local = { ...local, ...parsePax(data, at) };
      else if (flag === "g") {
        global = { ...global, ...parsePax(data, at) };
        let kept = 0;
        for (const [k, v] of Object.entries(global)) kept += k.length + v.length + RECORD_OVERHEAD;
        if (kept > maxGlobal)
          throw bad(at, `global PAX records would hold ${kept} bytes, over the ${maxGlobal}-byte limit`);
      } else {
        const s = utf8Name(cstr(data, 0, data.length), flag === "L" ? "entry path" : "link target", at);
        if (flag === "L") longName = s;
        else longLink = s;
      }
      if (flag === "g") metaStart = -1; // a global header stands alone
      continue;
    }

    const type = TYPES[flag];
    if (!type) throw bad(at, `unsupported entry type ${JSON.stringify(flag)}`);
    const pax: Record<string, string> = { ...global, ...local };
    for (const [k, v] of Object.entries(pax)) if (v === "") delete pax[k];
    const magic = h.toString("latin1", 257, 263);
    let path: string;
    if (pax.path !== undefined) path = pax.path;
    else if (longName !== undefined) path = longName;
    else {
      const name = utf8Name(cstr(h, 0, 100), "entry path", at);
      const prefix = magic === "ustar\0" ? utf8Name(cstr(h, 345, 155), "entry path prefix", at) : "";
      path = prefix ? `${prefix}/${name}` : name;
    }
    if (path === "") throw bad(at, "entry has an empty path");
    if (path.includes("\0")) throw bad(at, "entry path contains a NUL byte");
    if (Buffer.byteLength(path) > maxPath)
      throw bad(
        at,
        `entry path of ${Buffer.byteLength(path)} bytes is longer than ${maxPath} bytes (${JSON.stringify(path.slice(0, 64))}...)`,
      );
    const isLink = type === "symlink" || type === "link";
    const linkname = isLink ? (pax.linkpath ?? longLink ?? utf8Name(cstr(h, 157, 100), "link target", at)) : "";
    if (Buffer.byteLength(linkname) > maxPath)
      throw bad(
        at,
        `entry ${JSON.stringify(path)}: link target of ${Buffer.byteLength(linkname)} bytes is longer than ${maxPath} bytes`,
      );
    const dataSize = pax.size !== undefined ? paxInt(pax.size, "size", at) : size;
    if (type !== "file" && dataSize !== 0)
      throw bad(at, `${type} entry ${JSON.stringify(path)} claims ${dataSize} bytes of data`);
    if ((type === "symlink" || type === "link") && linkname === "")
      throw bad(at, `${type} entry ${JSON.stringify(path)} has no target`);

    const header: TarHeader = {
      path,
      type,
      mode: num(h, 100, 8, "mode", at) & 0o7777,
      size: dataSize,
      linkname: type === "symlink" || type === "link" ? linkname : "",
      mtime: pax.mtime !== undefined ? paxInt(pax.mtime, "mtime", at) : num(h, 136, 12, "mtime", at),
      uid: pax.uid !== undefined ? paxInt(pax.uid, "uid", at) : num(h, 108, 8, "uid", at),
      gid: pax.gid !== undefined ? paxInt(pax.gid, "gid", at) : num(h, 116, 8, "gid", at),
      uname: pax.uname ?? cstr(h, 265, 32).toString("utf8"),
      gname: pax.gname ?? cstr(h, 297, 32).toString("utf8"),
      devmajor: type === "char" || type === "block" ? num(h, 329, 8, "devmajor", at) : 0,
      devminor: type === "char" || type === "block" ? num(h, 337, 8, "devminor", at) : 0,
      pax,
      offset: metaStart === -1 ? at : metaStart,
    };
    local = {};
    entryMeta = 0;
    longName = undefined;
    longLink = undefined;
    metaStart = -1;

    let remaining = dataSize;
    const body = (async function* () {
      while (remaining > 0) {
        const chunk = await r.some(remaining);
        if (chunk === null)
          throw bad(
            r.pos,
            `archive is truncated inside ${JSON.stringify(path)} (${remaining} of ${dataSize} bytes missing)`,
          );
        remaining -= chunk.length;
        yield chunk;
      }
    })();
    yield { ...header, body };
    // Skip what the consumer left unread, then the padding.
    while (remaining > 0) {
      const chunk = await r.some(remaining);
      if (chunk === null)
        throw bad(
          r.pos,
          `archive is truncated inside ${JSON.stringify(path)} (${remaining} of ${dataSize} bytes missing)`,
        );
      remaining -= chunk.length;
    }
    const pad = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (pad && (await r.read(pad)) === null) throw bad(r.pos, `archive is truncated after ${JSON.stringify(path)}`);
  }
}

/** A layer blob's bytes as an uncompressed tar stream (gunzipped when it starts with the gzip magic). */
export async function openLayerTar(path: string): Promise<Readable> {
  const fh = await fsp.open(path, "r");
  let magic: Buffer;
  try {
    magic = Buffer.alloc(2);
    await fh.read(magic, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    raw.on("error", (e) => gunzip.destroy(e));
    return raw.pipe(gunzip);
  }
  return raw;
}

export type LayerListing = Pick<
  TarHeader,
  "path" | "type" | "mode" | "size" | "linkname" | "mtime" | "uid" | "gid" | "uname" | "gname"
>;

/** Lists a layer blob (gzip or plain tar), reading every entry's data to check the archive is whole. */
export async function listLayer(path: string, opts: ReadTarOptions = {}): Promise<LayerListing[]> {
  const out: LayerListing[] = [];
  let stream: Readable | undefined;
  try {
    stream = await openLayerTar(path);
    for await (const e of readTarEntries(stream, opts)) {
      let n = 0;
      for await (const chunk of e.body) n += chunk.length;
      if (n !== e.size)
        throw bad(e.offset, `entry ${JSON.stringify(e.path)} has ${n} bytes of data, header says ${e.size}`);
      const { path: p, type, mode, size, linkname, mtime, uid, gid, uname, gname } = e;
      out.push({ path: p, type, mode, size, linkname, mtime, uid, gid, uname, gname });
    }
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_TAR_READ", `cannot read layer ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    stream?.destroy();
  }
  return out;
}
