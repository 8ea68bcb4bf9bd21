/**
 * The file tree of an image, from its layers' tar headers alone: path, type, mode, owner and link target of
 * every entry, as a container runtime would see them after stacking the layers (whiteouts applied). Nothing is
 * unpacked or run; only the contents of a few small files the caller asks for (e.g. /etc/passwd) and the first
 * bytes of others (e.g. an ELF header) are kept.
 *
 * Paths are kept relative to the root without a leading "/" ("usr/local/bin/node"); "" is the root.
 */
import { PipelineError } from "../errors";
import { readTarEntries } from "../layer/tar-read";
import { entryParts } from "../layer/unpack";
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
}

export type Resolution =
  | { ok: true; path: string; entry: IndexEntry; via: string[] }
  | { ok: false; reason: "missing" | "loop" | "not-dir"; at: string; via: string[] };

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";
const MAX_CAPTURE = 1 << 20;
const MAX_HOPS = 40;

const ROOT: IndexEntry = { type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, implicit: true };

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

export class FileIndex {
  private readonly entries = new Map<string, IndexEntry>([["", ROOT]]);
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

  private removeTree(path: string, keepSelf = false): void {
    if (!keepSelf) this.entries.delete(path);
    const prefix = path === "" ? "" : `${path}/`;
    for (const p of [...this.entries.keys()]) if (p !== "" && p.startsWith(prefix)) this.entries.delete(p);
  }

  private ensureParents(path: string): void {
    for (let p = parentOf(path); p !== ""; p = parentOf(p)) {
      const e = this.entries.get(p);
      if (e?.type === "dir") return;
      if (e) this.removeTree(p); // a file where a directory must be: the layer's directory wins
      this.entries.set(p, { ...ROOT });
    }
  }

  /**
   * Adds one layer (an uncompressed tar stream). Whiteouts delete from the layers below only; what the same
   * layer adds stays, whatever the order of its entries.
   */
  async addLayer(tar: Readable | AsyncIterable<Buffer>, label: string): Promise<void> {
    const added = new Map<string, IndexEntry>();
    const whiteouts: string[] = [];
    const opaque: string[] = [];
    const capture = new Set(this.opts.capture ?? []);
    const headBytes = this.opts.headBytes ?? 64;
    for await (const e of readTarEntries(tar)) {
      const parts = entryParts(e.path);
      if (parts === null) throw new PipelineError("E_LAYER_UNSAFE", `${label}: entry ${JSON.stringify(e.path)} has a ".." component`);
      if (parts.length === 0) continue; // "./": the root itself
      const path = parts.join("/");
      const name = parts[parts.length - 1];
      if (name === OPAQUE) {
        opaque.push(parentOf(path));
        continue;
      }
      if (name.startsWith(WHITEOUT)) {
        if (!name.startsWith(`${WHITEOUT}${WHITEOUT}`)) whiteouts.push(`${parentOf(path) === "" ? "" : `${parentOf(path)}/`}${name.slice(WHITEOUT.length)}`);
        continue;
      }
      let entry: IndexEntry;
      if (e.type === "link") {
        const targetParts = entryParts(e.linkname);
        const target = targetParts && (added.get(targetParts.join("/")) ?? this.entries.get(targetParts.join("/")));
        if (!target || target.type === "dir") {
          throw new PipelineError("E_LAYER_UNSAFE", `${label}: hard link ${JSON.stringify(e.path)} names ${JSON.stringify(e.linkname)}, which is not an earlier file`);
        }
        entry = { ...target };
      } else {
        entry = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size };
        if (e.type === "symlink") entry.linkname = e.linkname;
        if (e.type === "file" && (capture.has(path) || this.opts.wantHead?.(path))) {
          const chunks: Buffer[] = [];
          let n = 0;
          const whole = capture.has(path) && e.size <= MAX_CAPTURE;
          for await (const c of e.body) {
            chunks.push(c);
            n += c.length;
            if (!whole && n >= headBytes) break;
          }
          const bytes = Buffer.concat(chunks);
          if (whole) entry.content = bytes;
          entry.head = bytes.subarray(0, headBytes);
        }
      }
      added.set(path, entry);
    }
    for (const dir of opaque) this.removeTree(dir, true);
    for (const p of whiteouts) this.removeTree(p);
    const sorted = [...added.keys()].sort();
    for (const path of sorted) {
      const entry = added.get(path)!;
      const old = this.entries.get(path);
      if (old && old.type === "dir" && entry.type !== "dir") this.removeTree(path);
      this.ensureParents(path);
      this.entries.set(path, entry);
    }
    this.layers++;
  }

  /**
   * Follows symlinks the way the kernel would inside the container's root: absolute targets start at the
   * image's root, ".." stops at the root, every component is resolved (the last one too, unless
   * `noFollowLast`). `via` lists the symlinks followed ("/usr/bin/node -> ../lib/node").
   */
  resolve(path: string, noFollowLast = false): Resolution {
    const via: string[] = [];
    let pending = splitPath(path);
    const cur: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "..") {
        cur.pop();
        continue;
      }
      const candidate = [...cur, part].join("/");
      const entry = this.entries.get(candidate);
      if (!entry) return { ok: false, reason: "missing", at: `/${candidate}`, via };
      if (entry.type === "symlink" && !(noFollowLast && pending.length === 0)) {
        if (++hops > MAX_HOPS) return { ok: false, reason: "loop", at: `/${candidate}`, via };
        via.push(`/${candidate} -> ${entry.linkname}`);
        const target = entry.linkname!;
        if (target.startsWith("/")) cur.length = 0;
        pending = [...splitPath(target), ...pending];
        continue;
      }
      if (pending.length > 0 && entry.type !== "dir") return { ok: false, reason: "not-dir", at: `/${candidate}`, via };
      cur.push(part);
    }
    const final = cur.join("/");
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
