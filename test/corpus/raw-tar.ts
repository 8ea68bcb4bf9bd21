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
  /** Owner ids written into the header (default 0, root). */
  uid?: number;
  gid?: number;
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
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
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
  /**
   * A directory (relative to the directory that holds the root) the test creates before unpacking, with mode 0755
   * and mtime CANARY_MTIME: an unsafe unpacker would change its mode or mtime through a symlink.
   */
  canary?: string;
}

/** The mtime (seconds) tests give a `canary` directory. */
export const CANARY_MTIME = 1_234_567_890;

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
    name: "a hard link to a file that comes later in the same layer",
    tar: rawTar([
      { name: "hl", type: "1", linkname: "later" },
      { name: "later", data: "x" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"hl"', '"later"', "does not exist"],
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
  // Symlinks judged where they really are, not by their archive path (issue #9, defect 8).
  {
    name: "a relative symlink that stays inside by its archive path but climbs out from its real directory (r -> /)",
    tar: rawTar([
      { name: "r", type: "2", linkname: "/" },
      { name: "r/a/b/hostetc", type: "2", linkname: "../../../etc" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"r/a/b/hostetc"', '"../../../etc"', "leads outside the root"],
  },
  {
    name: "a relative symlink that climbs out from its real directory (r -> .)",
    tar: rawTar([
      { name: "r", type: "2", linkname: "." },
      { name: "r/x/l", type: "2", linkname: "../../etc" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"r/x/l"', '"../../etc"'],
  },
  {
    name: "a relative symlink that climbs out from its real directory, reached through a chain (a -> b -> /)",
    tar: rawTar([
      { name: "b", type: "2", linkname: "/" },
      { name: "a", type: "2", linkname: "b" },
      { name: "a/c/l", type: "2", linkname: "../../up" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/c/l"', '"../../up"'],
  },
  // A directory replaced by a symlink after its subdirectory was made (issue #9, defect 1): the deferred mode and
  // mtime of d/sub must not land on <dir>/canary/sub.
  {
    name: "a directory replaced by a symlink out of the root after its subdirectory was made",
    tar: rawTar([
      { name: "r", type: "2", linkname: "." },
      { name: "r/r/r/x/d/", type: "5" },
      { name: "r/r/r/x/d/sub/", type: "5", mode: 0o777 },
      { name: "r/r/r/x/d", type: "2", linkname: "../../canary" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"r/r/r/x/d"', '"../../canary"'],
    canary: "canary/sub",
  },
  {
    name: "a hard link that copies a relative symlink into a shallower directory, where it climbs out",
    tar: rawTar([
      { name: "d1/d2/l", type: "2", linkname: "../../x" },
      { name: "top", type: "1", linkname: "d1/d2/l" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"top"', '"../../x"'],
  },
  {
    name: "an absolute symlink target that climbs above the root after going down",
    tar: rawTar([{ name: "x", type: "2", linkname: "/usr/../../etc" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"x"', '"/usr/../../etc"'],
  },
  {
    name: "a symlink with an empty target",
    tar: rawTar([{ name: "empty", type: "2", linkname: "" }]),
    code: "E_TAR_READ",
    mentions: ['"empty"', "no target"],
  },
  // Whiteouts and the root: the same verdict in the unpacker and verify-image (issue #9, defect 9).
  {
    name: "a whiteout with an empty name",
    tar: rawTar([{ name: "a/.wh." }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/.wh."'],
  },
  {
    name: "a whiteout of .",
    tar: rawTar([{ name: ".wh.." }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['".wh.."'],
  },
  {
    name: "a whiteout whose directory is a symlink loop",
    tar: rawTar([
      { name: "a", type: "2", linkname: "b" },
      { name: "b", type: "2", linkname: "a" },
      { name: "a/.wh.x" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"a/.wh.x"', "symlinks"],
  },
  {
    name: "an opaque whiteout below a regular file",
    tar: rawTar([{ name: "f", data: "x" }, { name: "f/.wh..wh..opq" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"f/.wh..wh..opq"', "not a directory"],
  },
  {
    name: "a regular file as the root directory",
    tar: rawTar([{ name: "./", data: "" }]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"./"', "root directory"],
  },
  {
    name: "a file below a symlink to itself",
    tar: rawTar([
      { name: "s", type: "2", linkname: "s" },
      { name: "s/f", data: "x" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"s/f"', "symlinks"],
  },
  {
    name: "a directory below a symlink to a regular file",
    tar: rawTar([
      { name: "f", data: "x" },
      { name: "l", type: "2", linkname: "f" },
      { name: "l/d/", type: "5" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"l/d/"', "not a directory"],
  },
  // Hard links resolve through in-image symlinks as other paths do.
  {
    name: "a hard link to a directory reached through a symlink",
    tar: rawTar([
      { name: "real/sub/", type: "5" },
      { name: "s", type: "2", linkname: "real" },
      { name: "h", type: "1", linkname: "s/sub" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"h"', '"s/sub"', "is a directory"],
  },
  {
    name: "a hard link through a symlink loop",
    tar: rawTar([
      { name: "a", type: "2", linkname: "b" },
      { name: "b", type: "2", linkname: "a" },
      { name: "h", type: "1", linkname: "a/f" },
    ]),
    code: "E_LAYER_UNSAFE",
    mentions: ['"h"', "symlinks"],
  },
];
