/**
 * Unpacks image layers into a directory, bottom layer first, as a container runtime would see the result, and
 * safely: nothing a layer says can create, change or delete anything outside the root.
 *
 * Paths. Entry paths are relative to the root; a leading "/" or "./" is dropped (OCI layers use relative paths,
 * some writers add "/"). An entry with a ".." component is refused, whatever it would resolve to.
 *
 * Symlinks. Parent directories are resolved inside the root the way the container resolves them: a symlink met
 * on the way is followed with an absolute target taken from the root (`bin -> /usr/bin` is fine) and a relative
 * one from the link's directory; a link that climbs above the root is refused. So a layer cannot write through
 * `evil -> ../../etc` (the classic symlink-then-file attack), nor through such a link found already in the root.
 * Creating a symlink whose relative target climbs above the root is refused too; absolute targets are kept as
 * they are (they mean "inside the root" to the container, and real images are full of them). The last path
 * component is never followed: whatever is there is replaced, and files are created with O_EXCL|O_NOFOLLOW.
 *
 * Hard links name another archive path, resolved the same way; it must already exist and not be a directory.
 *
 * Special files. Character and block devices are refused by default (a rootless unpack cannot create them; a
 * layer that ships them is not one we can run), or skipped with a warning (`devices: "skip"`). FIFOs are always
 * skipped with a warning. Owners are not applied (rootless); setuid/setgid bits are dropped unless `keepSetuid`.
 *
 * Whiteouts (OCI image spec, "Representing Changes"): `.wh.NAME` deletes NAME of the layers below, `.wh..wh..opq`
 * empties its directory of everything from the layers below; neither touches what the same layer adds. Other
 * `.wh..wh.*` names (AUFS bookkeeping) are ignored.
 *
 * Modes and times: files get theirs as they are written; directories are kept owner-writable until every layer is
 * unpacked, then get their modes and mtimes, deepest first.
 *
 * Each layer's compressed bytes and uncompressed tar are checked against its digest and diffId when known (a path
 * `.../blobs/sha256/HEX` is checked against HEX); a mismatch is noticed at the end of the layer, so on any error
 * the root holds a partial result and should be thrown away. The root must not be modified by anyone else while
 * this runs.
 *
 * Errors: E_LAYER_UNSAFE (an entry that would escape or cannot be unpacked), naming the layer and the entry;
 * E_TAR_READ (a malformed archive or compression), E_DIGEST_MISMATCH, E_UNPACK (the file system refused).
 */
import { createReadStream, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, rmSync, Stats, symlinkSync, linkSync, chmodSync, utimesSync, lutimesSync, constants as fsc, promises as fsp } from "node:fs";
import { createHash, Hash } from "node:crypto";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { decompressed, linkStaysInside } from "./decompress";
import type { Layer } from "./layer";
import { readTarEntries, TarReadEntry } from "./tar-read";

/** A layer to unpack: a Layer (anything with `digest` and `open()`), or the path of a layer blob file. */
export type UnpackSource = string | (Pick<Layer, "digest" | "open"> & { diffId?: string });

export interface UnpackOptions {
  /** Character and block devices: "reject" (default, E_LAYER_UNSAFE) or "skip" with a warning. */
  devices?: "reject" | "skip";
  /** Receives one line per skipped entry (devices when skipped, FIFOs). */
  warn?: (line: string) => void;
  /** Keep setuid/setgid bits (default: dropped; the files belong to whoever unpacks). */
  keepSetuid?: boolean;
  /** Check digests and diffIds where known (default true). */
  verify?: boolean;
}

export interface UnpackStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Whiteout entries applied (plain and opaque). */
  whiteouts: number;
  /** Entries skipped (FIFOs, devices with `devices: "skip"`, AUFS bookkeeping). */
  skipped: number;
  /** Bytes of file data written. */
  bytes: number;
}

const MAX_SYMLINK_HOPS = 40;
const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";
const DIGEST_IN_PATH = /(?:^|\/)sha256\/([a-f0-9]{64})$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * The components of an archive path inside the root: a leading "/" and "./" dropped, "." and empty components
 * ignored. null when a component is "..".
 */
export function entryParts(path: string): string[] | null {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return null;
    parts.push(p);
  }
  return parts;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

interface LayerState {
  label: string;
  /** Host paths this layer wrote. */
  written: Set<string>;
  /** Host paths this layer wrote, and their ancestors. */
  touched: Set<string>;
}

async function* hashing(src: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of src) {
    hash.update(chunk);
    yield chunk;
  }
}

/** The layer's bytes; a failure to read them (not a PipelineError already) is E_UNPACK naming the layer. */
async function* reading(src: Readable, label: string): AsyncGenerator<Buffer> {
  try {
    yield* src;
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_UNPACK", `layer ${label}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

class Unpacker {
  readonly stats: UnpackStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0, bytes: 0 };
  /** Final mode and mtime of every directory created or named by an entry, applied at the end. */
  private readonly dirModes = new Map<string, { mode: number; mtime?: number }>();
  private readonly modeMask: number;

  constructor(
    private readonly root: string,
    /** The root as the caller named it, for messages. */
    readonly rootDir: string,
    private readonly opts: UnpackOptions,
  ) {
    this.modeMask = opts.keepSetuid ? 0o7777 : 0o1777;
  }

  private unsafe(layer: LayerState, path: string, why: string): PipelineError {
    return new PipelineError("E_LAYER_UNSAFE", `layer ${layer.label}: entry ${JSON.stringify(path)}: ${why}`);
  }

  /**
   * The host directory at `parts` inside the root, following symlinks as the container would; missing
   * directories are created when `create`, else undefined is returned. Throws E_LAYER_UNSAFE when a link leads
   * above the root, a component is not a directory, or links loop.
   */
  private resolveDir(parts: readonly string[], create: boolean, fail: (why: string) => PipelineError): string | undefined {
    const cur: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length) {
      const c = queue.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (cur.length === 0) throw fail("a symlink on its path leads outside the root");
        cur.pop();
        continue;
      }
      const host = join(this.root, ...cur, c);
      const st = lstatOrUndefined(host);
      if (!st) {
        if (!create) return undefined;
        mkdirSync(host, { mode: 0o700 });
        this.dirModes.set(host, { mode: 0o755 });
        cur.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw fail(`more than ${MAX_SYMLINK_HOPS} symlinks on its path (a loop?)`);
        const target = readlinkSync(host);
        if (target.startsWith("/")) cur.length = 0;
        queue.unshift(...target.split("/"));
        continue;
      }
      if (!st.isDirectory()) throw fail(`${JSON.stringify([...cur, c].join("/"))} on its path is not a directory`);
      cur.push(c);
    }
    return join(this.root, ...cur);
  }

  private touch(layer: LayerState, host: string): void {
    layer.written.add(host);
    for (let p = host; p.length > this.root.length && !layer.touched.has(p); p = dirname(p)) layer.touched.add(p);
  }

  /** Removes what the layers below left in `dir` (opaque whiteout), keeping what this layer wrote. */
  private clearLower(layer: LayerState, dir: string): void {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (!layer.touched.has(p)) rmSync(p, { recursive: true, force: true });
      else if (lstatSync(p).isDirectory()) this.clearLower(layer, p);
    }
  }

  private whiteout(layer: LayerState, e: TarReadEntry, parent: string[], base: string): void {
    const fail = (why: string) => this.unsafe(layer, e.path, why);
    if (base === OPAQUE) {
      const dir = this.resolveDir(parent, false, fail);
      if (dir !== undefined) this.clearLower(layer, dir);
      this.stats.whiteouts++;
      return;
    }
    if (base.startsWith(WHITEOUT + WHITEOUT)) {
      this.stats.skipped++;
      return;
    }
    const name = base.slice(WHITEOUT.length);
    if (name === "" || name === "." || name === "..") throw fail(`whiteout of ${JSON.stringify(name)} is not allowed`);
    const dir = this.resolveDir(parent, false, fail);
    if (dir !== undefined) {
      const target = join(dir, name);
      // Whiteouts apply to the layers below only: what this layer wrote stays.
      if (!layer.touched.has(target)) rmSync(target, { recursive: true, force: true });
      else if (lstatSync(target).isDirectory()) this.clearLower(layer, target);
    }
    this.stats.whiteouts++;
  }

  /** Removes whatever is at `dest` unless it is a directory and `keepDir`. */
  private clear(dest: string, keepDir: boolean): void {
    const st = lstatOrUndefined(dest);
    if (!st || (keepDir && st.isDirectory())) return;
    rmSync(dest, { recursive: true, force: true });
  }

  async entry(layer: LayerState, e: TarReadEntry): Promise<void> {
    const fail = (why: string) => this.unsafe(layer, e.path, why);
    if (e.type === "fifo") {
      this.opts.warn?.(`layer ${layer.label}: skipped FIFO ${JSON.stringify(e.path)}`);
      this.stats.skipped++;
      return;
    }
    if (e.type === "char" || e.type === "block") {
      const what = `${e.type === "char" ? "character" : "block"} device ${e.devmajor}:${e.devminor}`;
      if (this.opts.devices !== "skip") throw fail(`is a ${what}; device files are not unpacked (devices: "skip" skips them)`);
      this.opts.warn?.(`layer ${layer.label}: skipped ${what} ${JSON.stringify(e.path)}`);
      this.stats.skipped++;
      return;
    }
    const parts = entryParts(e.path);
    if (parts === null) throw fail(`has a ".." component`);
    if (parts.length === 0) {
      if (e.type !== "dir") throw fail(`a ${e.type} cannot replace the root directory`);
      return; // the root itself: its mode stays the caller's
    }
    const base = parts[parts.length - 1];
    const parentParts = parts.slice(0, -1);
    if (base.startsWith(WHITEOUT)) return this.whiteout(layer, e, parentParts, base);

    const parent = this.resolveDir(parentParts, true, fail)!;
    const dest = join(parent, base);
    const mode = e.mode & this.modeMask;
    switch (e.type) {
      case "dir": {
        this.clear(dest, true);
        if (!lstatOrUndefined(dest)) mkdirSync(dest, { mode: 0o700 });
        this.dirModes.set(dest, { mode, mtime: e.mtime });
        this.stats.dirs++;
        break;
      }
      case "file": {
        this.clear(dest, false);
        const fh = await fsp.open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of e.body) {
            await fh.write(chunk);
            this.stats.bytes += chunk.length;
          }
          await fh.chmod(mode);
          await fh.utimes(e.mtime, e.mtime);
        } finally {
          await fh.close();
        }
        this.stats.files++;
        break;
      }
      case "symlink": {
        if (!linkStaysInside(parentParts, e.linkname)) throw fail(`symlink to ${JSON.stringify(e.linkname)} leads outside the root`);
        this.clear(dest, false);
        symlinkSync(e.linkname, dest);
        lutimesSync(dest, e.mtime, e.mtime);
        this.stats.symlinks++;
        break;
      }
      case "link": {
        const targetParts = entryParts(e.linkname);
        if (targetParts === null) throw fail(`hard link to ${JSON.stringify(e.linkname)} has a ".." component`);
        if (targetParts.length === 0) throw fail("hard link to the root directory");
        const tdir = this.resolveDir(targetParts.slice(0, -1), false, fail);
        const target = tdir === undefined ? undefined : join(tdir, targetParts[targetParts.length - 1]);
        const tst = target === undefined ? undefined : lstatOrUndefined(target);
        if (!target || !tst) throw fail(`hard link target ${JSON.stringify(e.linkname)} does not exist`);
        if (tst.isDirectory()) throw fail(`hard link target ${JSON.stringify(e.linkname)} is a directory`);
        if (target === dest) break;
        this.clear(dest, false);
        linkSync(target, dest);
        this.stats.hardlinks++;
        break;
      }
    }
    this.touch(layer, dest);
  }

  /** Gives directories their modes and times, deepest first (so a read-only parent does not stop its children). */
  finish(): void {
    const dirs = [...this.dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [path, { mode, mtime }] of dirs) {
      const st = lstatOrUndefined(path);
      if (!st?.isDirectory()) continue;
      chmodSync(path, mode);
      if (mtime !== undefined) utimesSync(path, mtime, mtime);
    }
  }
}

function describe(src: UnpackSource): { label: string; digest?: string; diffId?: string; open: () => Readable } {
  if (typeof src === "string") {
    const m = DIGEST_IN_PATH.exec(src);
    return { label: src, digest: m ? `sha256:${m[1]}` : undefined, open: () => createReadStream(src, { highWaterMark: 1 << 20 }) };
  }
  return { label: src.digest, digest: src.digest, diffId: src.diffId, open: () => src.open() };
}

async function unpackOne(u: Unpacker, src: UnpackSource, opts: UnpackOptions): Promise<void> {
  const { label, digest, diffId, open } = describe(src);
  const layer: LayerState = { label, written: new Set(), touched: new Set() };
  const compressedHash = createHash("sha256");
  const tarHash = createHash("sha256");
  let stream: Readable | undefined;
  let tar: AsyncGenerator<Buffer> | undefined;
  let current = "";
  try {
    stream = open();
    tar = hashing(decompressed(hashing(reading(stream, label), compressedHash), label), tarHash);
    const source = tar;
    // One iterator shared by the tar reader and the drain below (the reader stops at the end-of-archive marker).
    const shared: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => source.next() }) };
    for await (const e of readTarEntries(shared)) {
      current = e.path;
      await u.entry(layer, e);
      current = "";
    }
    while (!(await source.next()).done) {
      /* the rest: end-of-archive padding */
    }
  } catch (e) {
    if (e instanceof PipelineError) {
      if (e.code === "E_TAR_READ" && !e.message.startsWith(`layer ${label}`)) {
        throw new PipelineError("E_TAR_READ", `layer ${label}: ${e.message}`, { cause: e });
      }
      throw e;
    }
    const err = e as NodeJS.ErrnoException;
    const what = current ? `entry ${JSON.stringify(current)}: ` : "";
    throw new PipelineError("E_UNPACK", `layer ${label}: ${what}cannot unpack into ${u.rootDir}: ${err.code ?? err.message}`, { cause: e });
  } finally {
    // Close the generators (and the gunzip stream inside) before the source.
    await tar?.return(undefined).catch(() => undefined);
    stream?.destroy();
  }
  if (opts.verify === false) return;
  const actual = "sha256:" + compressedHash.digest("hex");
  if (digest && DIGEST_RE.test(digest) && actual !== digest) {
    throw new PipelineError("E_DIGEST_MISMATCH", `layer ${label}: its bytes have digest ${actual}, expected ${digest}`);
  }
  const actualDiffId = "sha256:" + tarHash.digest("hex");
  if (diffId && DIGEST_RE.test(diffId) && actualDiffId !== diffId) {
    throw new PipelineError("E_DIGEST_MISMATCH", `layer ${label}: its uncompressed tar has digest ${actualDiffId}, expected diff_id ${diffId}`);
  }
}

/**
 * Unpacks `layers` (bottom first) into `rootDir`, created if missing. See the file comment for what is refused
 * and how whiteouts, links and special files are handled.
 */
export async function unpackLayers(layers: readonly UnpackSource[], rootDir: string, opts: UnpackOptions = {}): Promise<UnpackStats> {
  let root: string;
  try {
    mkdirSync(rootDir, { recursive: true, mode: 0o755 });
    root = realpathSync(rootDir);
  } catch (e) {
    throw new PipelineError("E_UNPACK", `cannot create the root directory ${rootDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  const u = new Unpacker(root, rootDir, opts);
  for (const layer of layers) await unpackOne(u, layer, opts);
  try {
    u.finish();
  } catch (e) {
    throw new PipelineError("E_UNPACK", `cannot set directory modes in ${rootDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  return u.stats;
}
