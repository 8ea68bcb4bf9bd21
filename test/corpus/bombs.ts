/**
 * Layer bombs: small gzip blobs that expand to gigabytes (PAX extended headers by the thousand, a file of zeros).
 * Built lazily and cheaply: a bomb is a run of gzip members (RFC 1952 allows any number, concatenated; gunzip
 * yields their concatenation), each unit compressed once and repeated, so neither the test nor this module ever
 * holds the uncompressed bytes. The diff_id is the sha256 of the whole expansion, hashed unit by unit (seconds for
 * 6 GiB), so the image is otherwise a valid one.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { type Digest, hashDigest } from "../../src/oci/digest";

const BLOCK = 512;

/** A ustar header block (type, name, declared size), checksum included. */
export function ustarHeader(type: string, name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const octal = (off: number, len: number, v: number) =>
    h.write(v.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
  h.write(name, 0, 100, "utf8");
  octal(100, 8, type === "5" ? 0o755 : 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  h.write(type, 156, 1, "latin1");
  h.write("ustar\u000000", 257, "latin1");
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return h;
}

function padding(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

/** One unit of a bomb: its gzip member(s) and the uncompressed pieces (for the diff_id), repeated `times`. */
interface Part {
  gz: Buffer;
  raw: Buffer[];
  times: number;
}

function part(raw: Buffer[], times = 1): Part {
  return { gz: gzipSync(Buffer.concat(raw), { level: 9 }), raw, times };
}

export interface Bomb {
  path: string;
  /** sha256 of the blob. */
  digest: Digest;
  size: number;
  /** sha256 of the expansion. */
  diffId: Digest;
  /** Bytes of the expansion. */
  expanded: number;
}

function writeBomb(path: string, parts: Part[]): Bomb {
  const blobs: Buffer[] = [];
  const blobHash = createHash("sha256");
  const tarHash = createHash("sha256");
  let expanded = 0;
  for (const p of parts) {
    for (let i = 0; i < p.times; i++) {
      blobs.push(p.gz);
      blobHash.update(p.gz);
      for (const r of p.raw) {
        tarHash.update(r);
        expanded += r.length;
      }
    }
  }
  const blob = Buffer.concat(blobs);
  writeFileSync(path, blob);
  return { path, digest: hashDigest(blobHash), size: blob.length, diffId: hashDigest(tarHash), expanded };
}

const END = [Buffer.alloc(2 * BLOCK)];

export interface PaxBombOptions {
  /** Extended headers (default 6,000). */
  headers?: number;
  /** Bytes of each header's data (default 1 MiB). */
  headerSize?: number;
  /** "x" (per-entry), "g" (global), or "alternate" (default: x and g by turns). */
  kind?: "x" | "g" | "alternate";
  /** "distinct": each header sets its own key (kept ones pile up); "same": all set `comment`. Default distinct. */
  keys?: "distinct" | "same";
  /** Put an empty file after every header (each x header then belongs to its own entry). Default: one at the end. */
  entryEach?: boolean;
  /** The record is a `path` (distinct per header): entries with huge names. Implies entryEach. */
  paths?: boolean;
}

/**
 * The PAX header bomb of issue #9: `headers` extended headers of `headerSize` bytes each, a ~1 KiB gzip member
 * apiece (6,000 x 1 MiB: a 6.3 MB blob, 6 GB of headers).
 */
export function paxBomb(path: string, opts: PaxBombOptions = {}): Bomb {
  const n = opts.headers ?? 6000;
  const size = opts.headerSize ?? 1 << 20;
  const entryEach = opts.entryEach || opts.paths;
  // The value's bulk is the same in every header: one member for it, one small member for what varies.
  const prefixLen = String(size).length + 1 + 9; // "<len> " and 9 bytes of key: "k0000001=", "comment_=" or "path=0001"
  const bulk = Buffer.concat([Buffer.alloc(size - prefixLen - 1, "a"), Buffer.from("\n"), padding(size)]);
  const bulkPart = part([bulk]);
  const parts: Part[] = [];
  for (let i = 0; i < n; i++) {
    const kind = opts.kind === "alternate" || opts.kind === undefined ? (i % 2 ? "g" : "x") : opts.kind;
    const id = String(i).padStart(7, "0");
    // Keys of equal length so every record is exactly `size` bytes: k0000001, comment_ (ignored), path=0001aaa...
    const key = opts.paths ? `path=${String(i).padStart(4, "0")}` : opts.keys === "same" ? "comment_=" : `k${id}=`;
    const head = Buffer.concat([ustarHeader(kind, "PaxHeader", size), Buffer.from(`${size} ${key}`)]);
    if (head.length - BLOCK !== prefixLen)
      throw new Error(`bombs.ts: record prefix is ${head.length - BLOCK} bytes, not ${prefixLen}`);
    parts.push(part([head]), { ...bulkPart });
    if (entryEach) parts.push(part([ustarHeader("0", `f${id}`, 0)]));
  }
  if (!entryEach) parts.push(part([ustarHeader("0", "after-the-headers", 0)]));
  parts.push(part(END));
  return writeBomb(path, parts);
}

/**
 * The decompression bomb of issue #9: one file `name` of `bytes` zero bytes (default 6 GiB), written as 1 MiB
 * gzip members of ~1 KiB each (6 GiB: a 6.3 MB blob).
 */
export function zeroBomb(path: string, bytes = 6 * 2 ** 30, name = "zeros"): Bomb {
  const MiB = 1 << 20;
  if (bytes % MiB !== 0) throw new Error("zeroBomb: bytes must be a multiple of 1 MiB");
  return writeBomb(path, [part([ustarHeader("0", name, bytes)]), part([Buffer.alloc(MiB)], bytes / MiB), part(END)]);
}
