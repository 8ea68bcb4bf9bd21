/**
 * Which files of an archive are written as hard links: a regular file whose content, mode and owner equal an earlier
 * file's becomes a hard link (typeflag '1') to that first file, the way GNU tar stores files that are hard links on
 * disk, so duplicated content (node-gyp's hard-linked build outputs, packages npm installed twice) is stored once.
 *
 * Decided by content, never by inode: whether two inputs share an inode depends on how they reach the build (Bazel's
 * sandbox symlinks them, the hermetic sandbox hard-links them, a remote executor's cache may hard-link any two equal
 * files), and the layer's bytes must not. Only files that share their size, mode and owner with another entry are
 * hashed, and only up to MAX_LINKED bytes (they are read whole), so most files cost nothing extra. Empty files are
 * left alone: a link header is no smaller than an empty file's.
 */
import { sha256 } from "../oci/digest";

/** What this module reads of an archive entry (tar.ts's TarEntry has these fields; tar.ts imports this module). */
type TarEntry = {
  type: string;
  path: string;
  mode: number;
  uid?: number;
  gid?: number;
  size?: number;
  content?: Buffer;
};

/** Files larger than this are always written in full (a candidate is read into memory whole). */
export const MAX_LINKED = 32 << 20;

function shapeOf(e: TarEntry, size: number): string {
  return `${size}:${e.mode}:${e.uid ?? 0}:${e.gid ?? 0}`;
}

export class DuplicateFiles {
  /** Shapes (size, mode, owner) that more than one file entry has. */
  private readonly repeated = new Set<string>();
  /** Shape and content digest -> archive path of the first file with them. */
  private readonly first = new Map<string, string>();

  constructor(entries: readonly TarEntry[]) {
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.type !== "file") continue;
      const size = e.content?.length ?? e.size;
      if (size === undefined || size === 0 || size > MAX_LINKED) continue;
      const shape = shapeOf(e, size);
      if (seen.has(shape)) this.repeated.add(shape);
      else seen.add(shape);
    }
  }

  /** Whether the file entry `e` of `size` bytes might repeat an earlier file (its content is then needed whole). */
  mayRepeat(e: TarEntry, size: number): boolean {
    return this.repeated.has(shapeOf(e, size));
  }

  /** The path of the earlier file `e` (with `content`) repeats, or undefined (then it is the first of its kind). */
  firstWith(e: TarEntry, content: Buffer): string | undefined {
    if (!this.mayRepeat(e, content.length)) return undefined;
    const key = `${shapeOf(e, content.length)}:${sha256(content)}`;
    const first = this.first.get(key);
    if (first === undefined) this.first.set(key, e.path);
    return first;
  }
}
