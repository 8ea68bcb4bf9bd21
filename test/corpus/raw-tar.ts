/**
 * Hand-made tar archives for hostile-layer tests: a raw ustar header writer that writes whatever it is told
 * (".." paths, absolute paths, devices, links anywhere, wrong checksums), and the named hostile layers the unit
 * tests share. src/layer/tar.ts's writer refuses most of these, which is why they are built byte by byte here.
 */
import { gzipSync } from "node:zlib";

export interface RawEntry {
  /** Written into the 100-byte name field as is (longer names go to a PAX `path` record). */
  name: string;
  /** Typeflag: "0" file, "1" hard link, "2" symlink, "3" char, "4" block, "5" dir, "6" fifo. Default "0". */
  type?: string;
  mode?: number;
  data?: Buffer | string;
  linkname?: string;
  /** Declared size (default: the data's length). */
  size?: number;
  devmajor?: number;
  devminor?: number;
  mtime?: number;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

function octal(h: Buffer, off: number, len: number, v: number): void {
  h.write(v.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
}

function header(e: RawEntry, size: number, type: string, name: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, e.mode ?? (type === "5" ? 0o755 : 0o644));
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 0);
  h.write(type, 156, 1, "latin1");
  if (e.linkname) h.write(e.linkname, 157, 100, "utf8");
  h.write("ustar\u000000", 257, "latin1");
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  if (e.badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** One entry's bytes: (PAX header for a long name,) header, data, padding. */
export function rawEntry(e: RawEntry): Buffer {
  const data = typeof e.data === "string" ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
  const type = e.type ?? "0";
  const parts: Buffer[] = [];
  let name = e.name;
  if (Buffer.byteLength(name) > 100) {
    const pax = Buffer.from(paxRecord("path", name));
    parts.push(header({ name: "PaxHeader" }, pax.length, "x", "PaxHeader"), pax, pad(pax.length));
    name = name.slice(0, 99);
  }
  parts.push(header(e, e.size ?? data.length, type, name), data, pad(data.length));
  return Buffer.concat(parts);
}

/** A whole archive: the entries and (unless `end: false`) the two zero blocks that end it. */
export function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  return Buffer.concat([...entries.map(rawEntry), opts.end === false ? Buffer.alloc(0) : Buffer.alloc(1024)]);
}

export const gz = (b: Buffer): Buffer => gzipSync(b);

export interface HostileLayer {
  name: string;
  tar: Buffer;
  /** The error code unpacking it must fail with. */
  code: string;
  /** Text the message must contain: the entry path (and value) it names. */
  mentions: string[];
  /** A file that must not exist afterwards, relative to the directory that holds the root. */
  mustNotExist?: string;
  /** `tar` is already a (broken) gzip stream: use it as the layer blob as it is. */
  compressed?: boolean;
}

/**
 * Layers that must be refused. They are meant to be unpacked into `<dir>/root`; `mustNotExist` names what an
 * unsafe unpacker would have written outside it (relative to `<dir>`).
 */
export const HOSTILE_LAYERS: HostileLayer[] = [
  {
    name: "a path climbing out with ..",
    tar: rawTar([{ name: "../escaped.txt", data: "pwned" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"../escaped.txt"', '".."'],
    mustNotExist: "escaped.txt",
  },
  {
    name: "a .. hidden in the middle of a path",
    tar: rawTar([{ name: "a/../../escaped.txt", data: "pwned" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/../../escaped.txt"'],
    mustNotExist: "escaped.txt",
  },
  {
    name: "a relative symlink leading out of the root",
    tar: rawTar([{ name: "etc/evil", type: "2", linkname: "../../../outside" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"etc/evil"', '"../../../outside"'],
  },
  {
    name: "a symlink out of the root, then a file written through it",
    tar: rawTar([
      { name: "link", type: "2", linkname: "../" },
      { name: "link/escaped.txt", data: "pwned" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"link"', '"../"'],
    mustNotExist: "escaped.txt",
  },
  {
    name: "an absolute symlink target climbing above the root",
    tar: rawTar([{ name: "up", type: "2", linkname: "/../../etc" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"up"', '"/../../etc"'],
  },
  {
    name: "a hard link to a path with ..",
    tar: rawTar([{ name: "hl", type: "1", linkname: "../../etc/passwd" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"hl"', '"../../etc/passwd"'],
  },
  {
    name: "a hard link to a file that is not in the layers",
    tar: rawTar([{ name: "hl", type: "1", linkname: "etc/shadow" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"hl"', '"etc/shadow"', "does not exist"],
  },
  {
    name: "a character device",
    tar: rawTar([{ name: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"dev/null"', "character device 1:3"],
  },
  {
    name: "a block device",
    tar: rawTar([{ name: "dev/sda", type: "4", devmajor: 8, devminor: 0 }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"dev/sda"', "block device 8:0"],
  },
  {
    name: "a whiteout of ..",
    tar: rawTar([{ name: "a/.wh..." }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/.wh..."'],
  },
  {
    name: "a file below a regular file",
    tar: rawTar([
      { name: "f", data: "x" },
      { name: "f/g", data: "y" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"f/g"', "not a directory"],
  },
  {
    name: "a symlink loop on the path",
    tar: rawTar([
      { name: "a", type: "2", linkname: "b" },
      { name: "b", type: "2", linkname: "a" },
      { name: "a/x", data: "x" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/x"', "symlinks"],
  },
  {
    name: "a truncated archive",
    tar: rawTar([{ name: "big", data: Buffer.alloc(2000, 1) }]).subarray(0, 1200),
    code: "E_TAR_READ",
    mentions: ["truncated"],
  },
  {
    name: "a header with a bad checksum",
    tar: rawTar([{ name: "f", data: "x", badChecksum: true }]),
    code: "E_TAR_READ",
    mentions: ["checksum"],
  },
  {
    name: "an archive without its end-of-archive marker",
    tar: rawTar([{ name: "f", data: "x" }], { end: false }),
    code: "E_TAR_READ",
    mentions: ["end-of-archive"],
  },
  {
    name: "gzip that is cut short",
    tar: gz(rawTar([{ name: "f", data: Buffer.alloc(100_000, 7) }])).subarray(0, 60),
    code: "E_TAR_READ",
    mentions: ["gzip"],
    compressed: true,
  },
  {
    name: "an unknown entry type",
    tar: rawTar([{ name: "weird", type: "Z" }]),
    code: "E_TAR_READ",
    mentions: ['"Z"'],
  },
];
