/**
 * Unpacks image layers into a directory, bottom layer first, as a container runtime would see the result, and
 * safely: nothing a layer says can create, change or delete anything outside the root.
 *
 * What an entry may do and where its path leads is safety.ts's judgement, shared with verify-image (paths relative
 * to the root, ".." refused, symlinks on the way followed inside the root, new symlinks judged where they really
 * are, hard links resolved the same way, whiteout names). The host is only touched through host-root.ts, which
 * never follows a symlink on the host: every path it builds is made of components just found to be real
 * directories, and the last component is never followed (files are created with O_EXCL|O_NOFOLLOW; whatever is
 * at an entry's path is replaced).
 *
 * Special files. Character and block devices are refused by default (a rootless unpack cannot create them; a
 * layer that ships them is not one we can run), or skipped with a warning (`devices: "skip"`). FIFOs are always
 * skipped with a warning. Owners are not applied (rootless); setuid/setgid bits are dropped unless `keepSetuid`.
 *
 * Whiteouts (OCI image spec, "Representing Changes"): `.wh.NAME` deletes NAME of the layers below, `.wh..wh..opq`
 * empties its directory of everything from the layers below; neither touches what the same layer adds. Other
 * `.wh..wh.*` names (AUFS bookkeeping) are ignored.
 *
 * Modes and times: files get theirs as they are written; directories are kept owner-only until every layer is
 * unpacked, then get their modes and mtimes, deepest first, through a descriptor of the very directory that was
 * created (host-root.ts): a directory replaced since (by a symlink, a file, another directory) is skipped.
 *
 * Each layer's compressed bytes and uncompressed tar are checked against its digest and diffId when known (a path
 * `.../blobs/sha256/HEX` is checked against HEX); a mismatch is noticed at the end of the layer, so on any error
 * the root holds a partial result and should be thrown away. The root must not be modified by anyone else while
 * this runs (the one assumption host-root.ts makes).
 *
 * Errors: E_LAYER_UNSAFE (an entry that would escape or cannot be unpacked), naming the layer and the entry;
 * E_TAR_READ (a malformed archive or compression), E_DIGEST_MISMATCH, E_UNPACK (the file system refused),
 * E_LAYER_TOO_LARGE / E_NO_SPACE (the layers expand past a limit or the disk's reserve: limits.ts, checked as the
 * bytes stream, so a decompression bomb is stopped early).
 */
import { createReadStream, mkdirSync, realpathSync } from "node:fs";
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { type Digest, isDigest } from "../oci/digest";
import { SHA256_HEX } from "../oci/grammar";
import { Verifier, verified } from "../oci/verifying-stream";
import { decompressed } from "./decompress";
import { type DirId, HostRoot } from "./host-root";
import type { Layer } from "../oci/model";
import { judgeSymlink, keyOf, planEntry, type RealDir, resolveDir, resolveHardLink } from "./safety";
import { DEFAULT_LIMITS, ExpansionBudget, type LayerLimits } from "./limits";
import { readTarEntries, type TarReadEntry } from "./tar-read";

export { entryParts } from "./safety";

/** A layer to unpack: a Layer (anything with `digest` and `open()`), or the path of a layer blob file. */
export type UnpackSource = string | (Pick<Layer, "digest" | "open"> & { diffId?: Digest });

export interface UnpackOptions {
  /** Character and block devices: "reject" (default, E_LAYER_UNSAFE) or "skip" with a warning. */
  devices?: "reject" | "skip";
  /** Receives one line per skipped entry (devices when skipped, FIFOs). */
  warn?: (line: string) => void;
  /** Keep setuid/setgid bits (default: dropped; the files belong to whoever unpacks). */
  keepSetuid?: boolean;
  /** Check digests and diffIds where known (default true). */
  verify?: boolean;
  /** What the layers may expand to, and the free space to leave (limits.ts; default DEFAULT_LIMITS). */
  limits?: LayerLimits;
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

const DIGEST_IN_PATH = new RegExp(`(?:^|/)sha256/(${SHA256_HEX})$`);

interface LayerState {
  label: string;
  /** Paths inside the root (resolved, "a/b") this layer wrote. */
  written: Set<string>;
  /** Paths inside the root this layer wrote, and their ancestors. */
  touched: Set<string>;
}

/** The layer's bytes; a failure to read them (not a PipelineError already) is E_UNPACK naming the layer. */
async function* reading(src: Readable, label: string): AsyncGenerator<Buffer> {
  try {
    yield* src;
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError(
      "E_UNPACK",
      `layer ${label}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
}

class Unpacker {
  readonly stats: UnpackStats = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0, bytes: 0 };
  /** Every directory created or named by an entry, by path inside the root: which one it is, its final mode and mtime. */
  private readonly dirs = new Map<string, { parts: string[]; id: DirId; mode: number; mtime?: number }>();
  private readonly modeMask: number;
  private readonly root: HostRoot;

  constructor(
    root: string,
    /** The root as the caller named it, for messages. */
    readonly rootDir: string,
    private readonly opts: UnpackOptions,
  ) {
    this.root = new HostRoot(root);
    this.modeMask = opts.keepSetuid ? 0o7777 : 0o1777;
  }

  private unsafe(layer: LayerState, path: string, why: string): PipelineError {
    return new PipelineError("E_LAYER_UNSAFE", `layer ${layer.label}: entry ${JSON.stringify(path)}: ${why}`);
  }

  private record(dir: RealDir, name: string, id: DirId, mode: number, mtime?: number): void {
    this.dirs.set(keyOf(dir, name), { parts: [...dir, name], id, mode, mtime });
  }

  /** The directory at archive path `parts`, resolved inside the root (see safety.ts); missing ones made when `create`. */
  private resolveDir(
    parts: readonly string[],
    create: boolean,
    fail: (why: string) => PipelineError,
  ): RealDir | undefined {
    const make = (dir: RealDir, name: string) => this.record(dir, name, this.root.mkdir(dir, name), 0o755);
    return resolveDir(this.root, parts, create ? make : undefined, fail);
  }

  private touch(layer: LayerState, dir: RealDir, name: string): void {
    layer.written.add(keyOf(dir, name));
    layer.touched.add(keyOf(dir, name));
    for (let i = dir.length; i > 0 && !layer.touched.has(keyOf(dir.slice(0, i))); i--)
      layer.touched.add(keyOf(dir.slice(0, i)));
  }

  /** Removes what the layers below left in `dir` (opaque whiteout), keeping what this layer wrote. */
  private clearLower(layer: LayerState, dir: RealDir): void {
    for (const name of this.root.list(dir)) {
      if (!layer.touched.has(keyOf(dir, name))) this.root.remove(dir, name);
      else {
        const sub = this.root.subdir(dir, name);
        if (sub) this.clearLower(layer, sub);
      }
    }
  }

  private whiteout(
    layer: LayerState,
    parent: string[],
    name: string | undefined,
    fail: (why: string) => PipelineError,
  ): void {
    this.stats.whiteouts++;
    const dir = this.resolveDir(parent, false, fail);
    if (dir === undefined) return;
    if (name === undefined) {
      this.clearLower(layer, dir);
      return;
    }
    // Whiteouts apply to the layers below only: what this layer wrote stays.
    if (!layer.touched.has(keyOf(dir, name))) {
      this.root.remove(dir, name);
      return;
    }
    const sub = this.root.subdir(dir, name);
    if (sub) this.clearLower(layer, sub);
  }

  /** Removes whatever is at `name` in `dir` unless it is a directory and `keepDir`; returns what stays. */
  private clear(dir: RealDir, name: string, keepDir: boolean): DirId | undefined {
    const st = this.root.lstat(dir, name);
    if (!st) return undefined;
    if (keepDir && st.isDirectory()) return { dev: st.dev, ino: st.ino };
    this.root.remove(dir, name);
    return undefined;
  }

  async entry(layer: LayerState, e: TarReadEntry): Promise<void> {
    const fail = (why: string) => this.unsafe(layer, e.path, why);
    const plan = planEntry(e.path, e.type, fail);
    if (plan.kind === "root") return; // the root itself: its mode stays the caller's
    if (plan.kind === "ignored") {
      this.stats.skipped++;
      return;
    }
    if (plan.kind === "opaque") return this.whiteout(layer, plan.parent, undefined, fail);
    if (plan.kind === "whiteout") return this.whiteout(layer, plan.parent, plan.name, fail);
    if (e.type === "fifo") {
      this.opts.warn?.(`layer ${layer.label}: skipped FIFO ${JSON.stringify(e.path)}`);
      this.stats.skipped++;
      return;
    }
    if (e.type === "char" || e.type === "block") {
      const what = `${e.type === "char" ? "character" : "block"} device ${e.devmajor}:${e.devminor}`;
      if (this.opts.devices !== "skip")
        throw fail(`is a ${what}; device files are not unpacked (devices: "skip" skips them)`);
      this.opts.warn?.(`layer ${layer.label}: skipped ${what} ${JSON.stringify(e.path)}`);
      this.stats.skipped++;
      return;
    }
    const dir = this.resolveDir(plan.parent, true, fail)!;
    const name = plan.name;
    const mode = e.mode & this.modeMask;
    switch (e.type) {
      case "dir": {
        const id = this.clear(dir, name, true) ?? this.root.mkdir(dir, name);
        this.record(dir, name, id, mode, e.mtime);
        this.stats.dirs++;
        break;
      }
      case "file": {
        this.clear(dir, name, false);
        const fh = await this.root.createFile(dir, name);
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
        judgeSymlink(dir, e.linkname, fail);
        this.clear(dir, name, false);
        this.root.symlink(dir, name, e.linkname, e.mtime);
        this.stats.symlinks++;
        break;
      }
      case "link": {
        const target = resolveHardLink(this.root, e.linkname, dir, fail);
        if (keyOf(target.dir, target.name) === keyOf(dir, name)) break;
        this.clear(dir, name, false);
        this.root.link(target, dir, name);
        this.stats.hardlinks++;
        break;
      }
    }
    this.touch(layer, dir, name);
  }

  /** Gives directories their modes and times, deepest first (so a read-only parent does not stop its children). */
  finish(): void {
    const dirs = [...this.dirs.values()].sort((a, b) => b.parts.length - a.parts.length);
    for (const { parts, id, mode, mtime } of dirs) this.root.setDirMeta(parts, id, mode, mtime);
  }
}

function describe(src: UnpackSource): { label: string; digest?: Digest; diffId?: Digest; open: () => Readable } {
  if (typeof src === "string") {
    const named = `sha256:${DIGEST_IN_PATH.exec(src)?.[1]}`;
    return {
      label: src,
      digest: isDigest(named) ? named : undefined,
      open: () => createReadStream(src, { highWaterMark: 1 << 20 }),
    };
  }
  return { label: src.digest, digest: src.digest, diffId: src.diffId, open: () => src.open() };
}

async function unpackOne(u: Unpacker, src: UnpackSource, opts: UnpackOptions, budget: ExpansionBudget): Promise<void> {
  const { label, digest, diffId, open } = describe(src);
  const layer: LayerState = { label, written: new Set(), touched: new Set() };
  const checked = opts.verify !== false;
  const blobCheck = new Verifier({
    expect: { digest: checked ? digest : undefined },
    fail: (p) =>
      new PipelineError(
        "E_DIGEST_MISMATCH",
        `layer ${label}: its bytes have digest ${p.kind === "digest" ? p.actual : "?"}, expected ${digest}`,
      ),
  });
  const tarCheck = new Verifier({
    expect: { digest: checked ? diffId : undefined },
    fail: (p) =>
      new PipelineError(
        "E_DIGEST_MISMATCH",
        `layer ${label}: its uncompressed tar has digest ${p.kind === "digest" ? p.actual : "?"}, expected diff_id ${diffId}`,
      ),
  });
  let stream: Readable | undefined;
  let tar: AsyncGenerator<Buffer> | undefined;
  let current = "";
  try {
    stream = open();
    const meter = budget.layer(`layer ${label}`);
    tar = verified(decompressed(verified(reading(stream, label), blobCheck), label, meter), tarCheck);
    const source = tar;
    // One iterator shared by the tar reader and the drain below (the reader stops at the end-of-archive marker).
    const shared: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => source.next() }) };
    for await (const e of readTarEntries(shared, { maxArchiveMeta: budget.limits.maxTarMetadata })) {
      current = e.path;
      meter.entry();
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
    throw new PipelineError(
      "E_UNPACK",
      `layer ${label}: ${what}cannot unpack into ${u.rootDir}: ${err.code ?? err.message}`,
      { cause: e },
    );
  } finally {
    // Close the generators (and the gunzip stream inside) before the source.
    await tar?.return(undefined).catch(() => undefined);
    stream?.destroy();
  }
  blobCheck.check();
  tarCheck.check();
}

/**
 * Unpacks `layers` (bottom first) into `rootDir`, created if missing. See the file comment for what is refused
 * and how whiteouts, links and special files are handled.
 */
export async function unpackLayers(
  layers: readonly UnpackSource[],
  rootDir: string,
  opts: UnpackOptions = {},
): Promise<UnpackStats> {
  let root: string;
  try {
    mkdirSync(rootDir, { recursive: true, mode: 0o755 });
    root = realpathSync(rootDir);
  } catch (e) {
    throw new PipelineError(
      "E_UNPACK",
      `cannot create the root directory ${rootDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const u = new Unpacker(root, rootDir, opts);
  const budget = new ExpansionBudget(opts.limits ?? DEFAULT_LIMITS, { path: root });
  for (const layer of layers) await unpackOne(u, layer, opts, budget);
  try {
    u.finish();
  } catch (e) {
    throw new PipelineError(
      "E_UNPACK",
      `cannot set directory modes in ${rootDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return u.stats;
}
