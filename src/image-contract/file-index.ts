/**
 * The file tree of an image, from its layers' tar headers alone: path, type, mode, owner and link target of
 * every entry, as a container runtime would see them after stacking the layers (whiteouts applied). Nothing is
 * unpacked or run; only the contents of a few small files the caller asks for (e.g. /etc/passwd) and the first
 * bytes of others (e.g. an ELF header) are kept.
 *
 * Entries are applied one by one in archive order with the unpacker's rules, from the same module
 * (src/layer/safety.ts): paths resolve through in-image symlinks (`bin -> usr/bin` then `bin/tool` is
 * usr/bin/tool), and whatever the runner refuses to unpack is refused here too, with the same words
 * (E_LAYER_UNSAFE). FIFOs and devices are left out, as the runner leaves them out.
 *
 * Paths are kept relative to the root without a leading "/" ("usr/local/bin/node"); "" is the root.
 */
import { PipelineError } from "../errors";
import type { ExpansionMeter } from "../layer/limits";
import { type ReadTarOptions, readTarEntries, type TarReadEntry } from "../layer/tar-read";
import {
  judgeSymlink,
  keyOf,
  type Node,
  planEntry,
  type RealDir,
  resolveDir,
  resolveHardLink,
  type TreeView,
  walk,
} from "../layer/safety";
import type { Readable } from "node:stream";

export type IndexType = "file" | "dir" | "symlink" | "char" | "block" | "fifo";

export interface IndexEntry {
  type: IndexType;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target as stored. */
  linkname?: string;
  /** The whole content, for paths in `capture`. */
  content?: Buffer;
  /** The first bytes, for files `wantHead` selects. */
  head?: Buffer;
  /** A parent directory no layer listed (runtimes create it root-owned, 0755). */
  implicit?: boolean;
}

export interface IndexOptions {
  /** Paths (relative, no leading "/") whose whole content is kept, up to 1 MiB each. */
  capture?: readonly string[];
  /** Keep the first `headBytes` bytes of files this selects (by relative path). */
  wantHead?: (path: string) => boolean;
  headBytes?: number;
  /** How the layers' tars are read (metadata limits: src/layer/tar-read.ts). */
  tar?: ReadTarOptions;
}

export type Resolution =
  | { ok: true; path: string; entry: IndexEntry; via: string[] }
  | { ok: false; reason: "missing" | "loop" | "not-dir"; at: string; via: string[] };

const MAX_CAPTURE = 1 << 20;

const ROOT: IndexEntry = Object.freeze({ type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, implicit: true });
const SHARED_MAX = 10_000;

export class FileIndex implements TreeView {
  private readonly entries = new Map<string, IndexEntry>([["", ROOT]]);
  /** The names in each directory that has any, by the directory's path. */
  private readonly children = new Map<string, Set<string>>();
  private readonly sharedEntries = new Map<string, IndexEntry>();
  private readonly opts: IndexOptions;
  /** Layers added so far. */
  layers = 0;

  constructor(opts: IndexOptions = {}) {
    this.opts = opts;
  }

  /** The entry at exactly `path` (no symlink followed). */
  get(path: string): IndexEntry | undefined {
    return this.entries.get(normalize(path));
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every path, in no particular order. */
  paths(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** TreeView (src/layer/safety.ts): what is at `parts`, not followed. */
  node(parts: readonly string[]): Node | undefined {
    const e = this.entries.get(parts.join("/"));
    if (!e) return undefined;
    return e.type === "dir"
      ? { type: "dir" }
      : e.type === "symlink"
        ? { type: "symlink", target: e.linkname ?? "" }
        : { type: "other" };
  }

  /** Puts `entry` at `path` (its parent already there), listed among its parent's children. */
  private put(path: string, entry: IndexEntry): void {
    this.entries.set(path, entry);
    const slash = path.lastIndexOf("/");
    const parent = slash < 0 ? "" : path.slice(0, slash);
    let names = this.children.get(parent);
    if (!names) this.children.set(parent, (names = new Set()));
    names.add(slash < 0 ? path : path.slice(slash + 1));
  }

  /**
   * Removes everything strictly below `path` that `keep` does not hold (and `path` itself unless `keepSelf`), in
   * time proportional to what is below it: whiteouts of absent names cost nothing, so a layer of them is linear.
   * `keep` holds ancestors of whatever it holds (a layer's touched paths), so a kept path's parent is kept.
   */
  private removeTree(path: string, keepSelf: boolean, keep?: Set<string>): void {
    const names = this.children.get(path);
    if (names) {
      for (const name of [...names]) {
        const child = path === "" ? name : `${path}/${name}`;
        const kept = keep?.has(child) ?? false;
        this.removeTree(child, kept, kept ? keep : undefined);
      }
    }
    if (keepSelf || path === "") return;
    this.entries.delete(path);
    this.children.delete(path);
    const slash = path.lastIndexOf("/");
    this.children.get(slash < 0 ? "" : path.slice(0, slash))?.delete(slash < 0 ? path : path.slice(slash + 1));
  }

  /** The entry for a file, directory or symlink at `path`, with the content or head the options ask for. */
  private async entryOf(e: TarReadEntry, path: string): Promise<IndexEntry> {
    const entry: IndexEntry = { type: e.type as IndexType, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size };
    if (e.type === "symlink") entry.linkname = e.linkname;
    const capture = this.opts.capture?.includes(path) ?? false;
    if (e.type !== "symlink" && !(e.type === "file" && (capture || this.opts.wantHead?.(path))))
      return this.shared(entry);
    if (e.type === "file") {
      const headBytes = this.opts.headBytes ?? 64;
      const chunks: Buffer[] = [];
      let n = 0;
      const whole = capture && e.size <= MAX_CAPTURE;
      for await (const c of e.body) {
        chunks.push(c);
        n += c.length;
        if (!whole && n >= headBytes) break;
      }
      const bytes = Buffer.concat(chunks);
      if (whole) entry.content = bytes;
      entry.head = bytes.subarray(0, headBytes);
    }
    return entry;
  }

  /**
   * One object for all equal entries without a link target, content or head (entries are never changed once
   * made): a flood of empty files costs a map slot each, not an object each. At most SHARED_MAX are kept.
   */
  private shared(entry: IndexEntry): IndexEntry {
    const key = `${entry.type} ${entry.mode} ${entry.uid} ${entry.gid} ${entry.size}`;
    const found = this.sharedEntries.get(key);
    if (found) return found;
    if (this.sharedEntries.size < SHARED_MAX) this.sharedEntries.set(key, Object.freeze(entry));
    return entry;
  }

  /**
   * Adds one layer (an uncompressed tar stream), entry by entry as the unpacker applies it. Whiteouts delete from
   * the layers below only; what the same layer adds stays, whatever the order of its entries. `meter` counts
   * the entries against the limits (src/layer/limits.ts).
   */
  async addLayer(
    tar: Readable | AsyncIterable<Buffer>,
    label: string,
    meter?: Pick<ExpansionMeter, "entry">,
  ): Promise<void> {
    /** Paths this layer wrote, and their ancestors. */
    const touched = new Set<string>();
    for await (const e of readTarEntries(tar, this.opts.tar)) {
      meter?.entry();
      const fail = (why: string) =>
        new PipelineError("E_LAYER_UNSAFE", `${label}: entry ${JSON.stringify(e.path)}: ${why}`);
      const plan = planEntry(e.path, e.type, fail);
      if (plan.kind === "root" || plan.kind === "ignored") continue;
      if (plan.kind === "opaque" || plan.kind === "whiteout") {
        const dir = resolveDir(this, plan.parent, undefined, fail);
        if (dir === undefined) continue;
        if (plan.kind === "opaque") this.removeTree(keyOf(dir), true, touched);
        else if (!touched.has(keyOf(dir, plan.name))) this.removeTree(keyOf(dir, plan.name), false);
        else if (this.entries.get(keyOf(dir, plan.name))?.type === "dir")
          this.removeTree(keyOf(dir, plan.name), true, touched);
        continue;
      }
      if (e.type === "fifo" || e.type === "char" || e.type === "block") continue; // the runner skips them
      const dir = resolveDir(this, plan.parent, (d: RealDir, name: string) => this.put(keyOf(d, name), ROOT), fail)!;
      const path = keyOf(dir, plan.name);
      let entry: IndexEntry;
      if (e.type === "link") {
        const target = resolveHardLink(this, e.linkname, dir, fail);
        entry = this.entries.get(keyOf(target.dir, target.name))!;
      } else {
        if (e.type === "symlink") judgeSymlink(dir, e.linkname, fail);
        entry = await this.entryOf(e, path);
      }
      const old = this.entries.get(path);
      if (old?.type === "dir" && entry.type !== "dir") this.removeTree(path, false);
      this.put(path, entry);
      touched.add(path);
      for (let i = dir.length; i > 0; i--) touched.add(keyOf(dir.slice(0, i)));
    }
    this.layers++;
  }

  /**
   * Follows symlinks the way the kernel would inside the container's root (safety.ts's walk): absolute targets
   * start at the image's root, ".." stops at the root, every component is resolved (the last one too, unless
   * `noFollowLast`). `via` lists the symlinks followed ("/usr/bin/node -> ../lib/node").
   */
  resolve(path: string, noFollowLast = false): Resolution {
    const w = walk(this, splitPath(path), { aboveRoot: "stay", followLast: !noFollowLast });
    const via = w.via.map((h) => `/${h.at.join("/")} -> ${h.target}`);
    if (!w.ok)
      return { ok: false, reason: w.reason === "above-root" ? "missing" : w.reason, at: `/${w.at.join("/")}`, via };
    const final = w.parts.join("/");
    return { ok: true, path: `/${final}`, entry: this.entries.get(final)!, via };
  }
}

function splitPath(p: string): string[] {
  return p.split("/").filter((x) => x !== "" && x !== ".");
}

/** "/a/./b/" → "a/b"; ".." is not resolved (use resolve()). */
export function normalize(path: string): string {
  return splitPath(path).join("/");
}
