/**
 * What a layer entry may do and where its path leads, decided in one place for every reader of image layers: the
 * unpacker (src/layer/unpack.ts: the runner's rootfs, model pulls) and verify-image's file index
 * (src/image-contract/file-index.ts). Each applies these functions to its own tree (a host directory through
 * host-root.ts, or an in-memory map), so an image one refuses the other refuses too, with the same words, and a
 * path resolves to the same place in both.
 *
 * What it chose:
 * - Archive paths are relative to the root; a leading "/" or "./" is dropped, "." and empty components ignored. A
 *   ".." component is refused, whatever it would resolve to.
 * - Whiteouts (OCI image spec, "Representing Changes"): `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its
 *   directory, other `.wh..wh.*` names (AUFS bookkeeping) are ignored; `.wh.`, `.wh..` and `.wh...` are refused.
 *   Only a directory entry may name the root itself.
 * - Paths resolve as the container resolves them, inside the root: a symlink met on the way is followed with an
 *   absolute target taken from the root and a relative one from the link's real directory; a link leading above
 *   the root, a component that is not a directory, or more than 40 links are refused. The last component of an
 *   entry is never followed (whatever is there is replaced).
 * - A new symlink is judged where it really is, by the resolved location of its directory, not by its archive
 *   path (`r -> /` then `r/a/b/l -> ../../../etc` climbs out from `a/b`): a relative target that climbs above the
 *   root is refused. Absolute targets are kept unless they climb with ".." (to the container they mean "inside
 *   the root"; real images are full of them).
 * - A hard link names an archive path resolved the same way (through in-image symlinks, last component not
 *   followed); it must exist and not be a directory. A hard link to a symlink is that symlink again at a new
 *   place, so it is judged there as a new symlink.
 * - Character and block devices and FIFOs: only their path is judged here; what is done with them is the
 *   caller's (the runner and verify-image leave them out).
 */
import type { TarEntryType } from "./tar-read";

export const OPAQUE = ".wh..wh..opq";
export const WHITEOUT = ".wh.";
export const MAX_SYMLINK_HOPS = 40;

/** Makes the error for the entry being judged out of the reason (the caller adds which layer and entry). */
export type Fail = (why: string) => Error;

/**
 * The components of an archive path inside the root: a leading "/" and "./" dropped, "." and empty components
 * ignored. null when a component is "..".
 */
/** The longest name of one path component Linux file systems take (ext4, xfs, btrfs, overlayfs, tmpfs). */
export const NAME_MAX = 255;

export function entryParts(path: string): string[] | null {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return null;
    parts.push(p);
  }
  return parts;
}

/** Whether a symlink in the directory `dirParts` (resolved, inside the root) with `target` stays inside when followed. */
export function linkStaysInside(dirParts: readonly string[], target: string): boolean {
  let depth = target.startsWith("/") ? 0 : dirParts.length;
  for (const p of target.split("/")) {
    if (p === "" || p === ".") continue;
    if (p !== "..") depth++;
    else if (depth-- === 0) return false;
  }
  return true;
}

/** What an archive entry's path asks for. `parent` is the archive path of its directory (not yet resolved). */
export type EntryPlan =
  | { kind: "root" }
  | { kind: "entry"; parent: string[]; name: string }
  | { kind: "whiteout"; parent: string[]; name: string }
  | { kind: "opaque"; parent: string[] }
  | { kind: "ignored" };

/** Judges an entry's path and name; throws `fail(why)` for a ".." component, a bad whiteout, a non-directory root. */
export function planEntry(path: string, type: TarEntryType, fail: Fail): EntryPlan {
  const parts = entryParts(path);
  if (parts === null) throw fail(`has a ".." component`);
  for (const p of parts) {
    const n = Buffer.byteLength(p);
    if (n > NAME_MAX) throw fail(`has a component of ${n} bytes; file systems take at most ${NAME_MAX} (NAME_MAX)`);
  }
  if (parts.length === 0) {
    if (type !== "dir") throw fail(`a ${type} cannot replace the root directory`);
    return { kind: "root" };
  }
  const name = parts[parts.length - 1];
  const parent = parts.slice(0, -1);
  if (name === OPAQUE) return { kind: "opaque", parent };
  if (name.startsWith(WHITEOUT + WHITEOUT)) return { kind: "ignored" };
  if (name.startsWith(WHITEOUT)) {
    const target = name.slice(WHITEOUT.length);
    if (target === "" || target === "." || target === "..")
      throw fail(`whiteout of ${JSON.stringify(target)} is not allowed`);
    return { kind: "whiteout", parent, name: target };
  }
  return { kind: "entry", parent, name };
}

/** What is at a path of a tree, no symlink followed. */
export type Node = { type: "dir" } | { type: "symlink"; target: string } | { type: "other" };

/** A tree to resolve paths in: the host root being unpacked, or verify-image's index. */
export interface TreeView {
  /** What is at `parts` (no symlink followed), or undefined. Every component but the last is a real directory. */
  node(parts: readonly string[]): Node | undefined;
}

declare const REAL_DIR: unique symbol;
/**
 * The components of a directory inside the root, each found a real directory (not a symlink) by walk(): the only
 * kind of path host-root.ts operates in.
 */
export type RealDir = readonly string[] & { readonly [REAL_DIR]: true };

/** A symlink followed on the way: where it is and what it says. */
export interface Hop {
  at: string[];
  target: string;
}

export type Walked =
  | { ok: true; parts: string[]; node: Node; via: Hop[] }
  | { ok: false; reason: "missing" | "not-dir" | "loop" | "above-root"; at: string[]; via: Hop[] };

export interface WalkOptions {
  /** Follow a symlink in the last component too (default true). */
  followLast?: boolean;
  /** ".." at the root: "refuse" (unpacking: a link that climbs out) or "stay" (the kernel's view in the container). */
  aboveRoot: "refuse" | "stay";
  /** Makes a directory `name` in `dir` where a component is missing, and the walk goes on; without it, "missing". */
  create?: (dir: RealDir, name: string) => void;
}

function components(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/** Resolves `parts` inside the root of `view`, one component at a time, following symlinks as described above. */
export function walk(view: TreeView, parts: readonly string[], opts: WalkOptions): Walked {
  const cur: string[] = [];
  const queue = parts.filter((p) => p !== "" && p !== ".");
  const via: Hop[] = [];
  let hops = 0;
  let node: Node = { type: "dir" };
  while (queue.length) {
    const c = queue.shift()!;
    if (c === "..") {
      if (cur.length === 0) {
        if (opts.aboveRoot === "refuse") return { ok: false, reason: "above-root", at: [], via };
      } else cur.pop();
      node = { type: "dir" };
      continue;
    }
    const at = [...cur, c];
    let n = view.node(at);
    if (!n) {
      if (!opts.create) return { ok: false, reason: "missing", at, via };
      opts.create([...cur] as unknown as RealDir, c);
      n = { type: "dir" };
    }
    const last = queue.length === 0;
    if (n.type === "symlink" && (!last || opts.followLast !== false)) {
      if (++hops > MAX_SYMLINK_HOPS) return { ok: false, reason: "loop", at, via };
      via.push({ at, target: n.target });
      if (n.target.startsWith("/")) cur.length = 0;
      queue.unshift(...components(n.target));
      node = { type: "dir" }; // where the link is, until its target says more
      continue;
    }
    if (!last && n.type !== "dir") return { ok: false, reason: "not-dir", at, via };
    cur.push(c);
    node = n;
  }
  return { ok: true, parts: cur, node, via };
}

/**
 * The directory `parts` names, resolved inside the root (created where missing when `create` is given, else
 * undefined when something is missing). Throws `fail(why)` when a link leads above the root, a component is not a
 * directory, or links loop.
 */
export function resolveDir(
  view: TreeView,
  parts: readonly string[],
  create: WalkOptions["create"],
  fail: Fail,
): RealDir | undefined {
  const w = walk(view, parts, { aboveRoot: "refuse", create });
  if (w.ok) {
    if (w.node.type !== "dir") throw fail(`${JSON.stringify(w.parts.join("/"))} on its path is not a directory`);
    return w.parts as unknown as RealDir;
  }
  switch (w.reason) {
    case "missing":
      return undefined;
    case "above-root":
      throw fail("a symlink on its path leads outside the root");
    case "loop":
      throw fail(`more than ${MAX_SYMLINK_HOPS} symlinks on its path (a loop?)`);
    case "not-dir":
      throw fail(`${JSON.stringify(w.at.join("/"))} on its path is not a directory`);
  }
}

/** Refuses a symlink to `target` in the directory `dir` (resolved) when it would lead outside the root. */
export function judgeSymlink(dir: RealDir, target: string, fail: Fail): void {
  if (target === "") throw fail("symlink with an empty target");
  if (!linkStaysInside(dir, target)) throw fail(`symlink to ${JSON.stringify(target)} leads outside the root`);
}

/**
 * Where a hard link in `destDir` (resolved) to the archive path `linkname` points: the target's resolved
 * directory, its name there, and what it is. Throws `fail(why)` when it is not an existing non-directory, or is a
 * symlink that would lead outside the root from `destDir`.
 */
export function resolveHardLink(
  view: TreeView,
  linkname: string,
  destDir: RealDir,
  fail: Fail,
): { dir: RealDir; name: string; node: Node } {
  const parts = entryParts(linkname);
  if (parts === null) throw fail(`hard link to ${JSON.stringify(linkname)} has a ".." component`);
  if (parts.length === 0) throw fail("hard link to the root directory");
  const dir = resolveDir(view, parts.slice(0, -1), undefined, fail);
  const name = parts[parts.length - 1];
  const node = dir && view.node([...dir, name]);
  if (!dir || !node) throw fail(`hard link target ${JSON.stringify(linkname)} does not exist`);
  if (node.type === "dir") throw fail(`hard link target ${JSON.stringify(linkname)} is a directory`);
  if (node.type === "symlink" && !linkStaysInside(destDir, node.target)) {
    throw fail(
      `hard link target ${JSON.stringify(linkname)} is a symlink to ${JSON.stringify(node.target)}, which leads outside the root from here`,
    );
  }
  return { dir, name, node };
}

/** The path a directory's entry named `name` gets in the tree's maps ("a/b"; "" is the root). */
export function keyOf(dir: readonly string[], name?: string): string {
  return name === undefined ? dir.join("/") : [...dir, name].join("/");
}
