/**
 * File-system operations inside an unpack root that never follow a symlink on the host: a layer that turns a
 * directory into `a -> /etc` (or a relative link that climbs out) gets nothing done to what the link points at.
 *
 * The rule: every host path built here is the root, then the components of a RealDir (each one found a real
 * directory, not a symlink, by safety.ts's walk, component by component from the root, just before), then at
 * most one last component, which is never followed: lstat, readlink, open with O_CREAT|O_EXCL|O_NOFOLLOW,
 * symlink, link (link(2) does not follow its source), rm (removes a symlink itself, recurses only into real
 * directories), lutimes.
 *
 * Deferred directory metadata (modes and mtimes are applied once every layer is in, deepest first) goes through
 * what was created, never through a saved path: a directory's (dev, ino) is recorded when it is created or
 * claimed; at the end its path is walked again from the root with lstat (a symlink or a non-directory on the way
 * means it was replaced since: skipped), it is opened O_RDONLY|O_DIRECTORY|O_NOFOLLOW, fstat must give the same
 * (dev, ino), and fchmod/futimes act on that descriptor.
 *
 * Assumption: nothing else modifies the root while an unpack runs (no other process, no second unpacker in the
 * same root). The checks run just before each operation; only a concurrent writer could swap a component between
 * the check and the use. Callers unpack into a fresh private directory (src/container/image-cache.ts, src/weights/fetch.ts).
 */
import {
  type BigIntStats,
  closeSync,
  constants as fsc,
  fchmodSync,
  fstatSync,
  futimesSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  promises as fsp,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import type { Node, RealDir, TreeView } from "./safety";

/** Which directory was created or claimed: its device and inode. */
export interface DirId {
  dev: bigint;
  ino: bigint;
}

export class HostRoot implements TreeView {
  /** `path`: the root's real path (no symlink in it). */
  constructor(readonly path: string) {}

  private host(dir: RealDir, name?: string): string {
    return name === undefined ? join(this.path, ...dir) : join(this.path, ...dir, name);
  }

  private lstatAt(path: string): BigIntStats | undefined {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  }

  /** TreeView for safety.ts's walk, which only asks for paths whose every component but the last it has checked. */
  node(parts: readonly string[]): Node | undefined {
    const path = join(this.path, ...parts);
    const st = this.lstatAt(path);
    if (!st) return undefined;
    if (st.isSymbolicLink()) return { type: "symlink", target: readlinkSync(path) };
    return st.isDirectory() ? { type: "dir" } : { type: "other" };
  }

  /** What is at `name` in `dir`, not followed. */
  lstat(dir: RealDir, name: string): BigIntStats | undefined {
    return this.lstatAt(this.host(dir, name));
  }

  /** `name` in `dir` when it is a real directory. */
  subdir(dir: RealDir, name: string): RealDir | undefined {
    return this.lstat(dir, name)?.isDirectory() ? ([...dir, name] as unknown as RealDir) : undefined;
  }

  /** Makes the directory `name` in `dir` (owner-only until its final mode is applied) and returns its identity. */
  mkdir(dir: RealDir, name: string): DirId {
    const path = this.host(dir, name);
    mkdirSync(path, { mode: 0o700 });
    const st = this.lstatAt(path)!;
    return { dev: st.dev, ino: st.ino };
  }

  /** Removes `name` in `dir` and everything below it (a symlink is removed, not followed). */
  remove(dir: RealDir, name: string): void {
    rmSync(this.host(dir, name), { recursive: true, force: true });
  }

  list(dir: RealDir): string[] {
    return readdirSync(this.host(dir));
  }

  /** Creates the file `name` in `dir` (it must not exist; never through a symlink), owner-only for now. */
  createFile(dir: RealDir, name: string): Promise<fsp.FileHandle> {
    return fsp.open(this.host(dir, name), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  }

  symlink(dir: RealDir, name: string, target: string, mtime: number): void {
    const path = this.host(dir, name);
    symlinkSync(target, path);
    lutimesSync(path, mtime, mtime);
  }

  /** Hard-links `name` in `dir` to `target` (a symlink there is linked itself, not what it points to). */
  link(target: { dir: RealDir; name: string }, dir: RealDir, name: string): void {
    linkSync(this.host(target.dir, target.name), this.host(dir, name));
  }

  /**
   * Gives the directory recorded as `id` at `parts` its mode and mtime, through a descriptor; false (nothing done)
   * when that directory is no longer there: a component on the way is a symlink or not a directory, or another
   * directory stands at the path.
   */
  setDirMeta(parts: readonly string[], id: DirId, mode: number, mtime: number | undefined): boolean {
    let path = this.path;
    for (const [i, c] of parts.entries()) {
      path = join(path, c);
      if (i === parts.length - 1) break;
      if (!this.lstatAt(path)?.isDirectory()) return false;
    }
    let fd: number;
    try {
      fd = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return false;
      throw e;
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (st.dev !== id.dev || st.ino !== id.ino) return false;
      fchmodSync(fd, mode);
      if (mtime !== undefined) futimesSync(fd, mtime, mtime);
      return true;
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Opens the regular file `path` for reading only if it is, when opened, inside the directory `root` (a real path):
 * the last component is not followed (O_NOFOLLOW) and, on Linux, the path the kernel gives for the open descriptor
 * (/proc/self/fd) must be under `root`, so a file swapped for a link, or a directory on its way swapped for one, after
 * it was listed is refused instead of read. Elsewhere only O_NOFOLLOW holds. Throws E_BAD_INPUT naming the path.
 */
export function openFileInside(root: string, path: string): number {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ELOOP") throw e;
    throw new PipelineError(
      "E_BAD_INPUT",
      `${path} became a symlink after it was listed as a file of ${root}: not read`,
      { cause: e },
    );
  }
  try {
    if (!fstatSync(fd).isFile())
      throw new PipelineError("E_BAD_INPUT", `${path} is not a regular file (it changed after it was listed)`);
    if (process.platform === "linux") {
      const opened = readlinkSync(`/proc/self/fd/${fd}`);
      if (!opened.startsWith(`${root}/`)) {
        throw new PipelineError(
          "E_BAD_INPUT",
          `${path} opened as ${opened}, outside ${root} (a directory on its way was replaced by a symlink?): not read`,
        );
      }
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * What `path` (met under a directory being read whole) is, and where to read it: a symlink is followed only when the
 * kernel resolves it (realpath(3), the whole chain) inside the real directory `within`, else E_BAD_INPUT naming it.
 * `lstat` stats a path without following it (the caller's, for its messages).
 */
export function followInside(path: string, within: string, lstat: (p: string) => Stats): { st: Stats; real: string } {
  const st = lstat(path);
  if (!st.isSymbolicLink()) return { st, real: path };
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch (e) {
    throw new PipelineError(
      "E_BAD_INPUT",
      `${path} is a symlink to ${JSON.stringify(readlinkSync(path))}, which does not resolve (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  if (!real.startsWith(`${within}/`)) {
    throw new PipelineError(
      "E_BAD_INPUT",
      `${path} is a symlink to ${JSON.stringify(readlinkSync(path))} (${real}), outside ${within}: a layer takes nothing from outside the tree it is built from`,
    );
  }
  return { st: lstat(real), real };
}
