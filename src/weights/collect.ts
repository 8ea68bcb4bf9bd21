/**
 * Reads a model directory into what push stores: the tree (directories, small or executable files, symlinks
 * that stay inside) for the tar layer, and big files for layers of their own. Synchronous walk, as in
 * src/layer/build.ts (metadata calls that mostly hit the cache; nothing else runs meanwhile).
 *
 * Symlinks: a link whose target, resolved as the kernel resolves it (the whole chain of links in the directory:
 * src/layer/kept-link.ts), stays inside the directory is stored as a link (`config.json -> snapshots/v2/config.json`). A link that leads outside (absolute or climbing above the
 * directory, as in a Hugging Face snapshot whose files point into `../../blobs/`) is followed when it names a
 * regular file, which is stored as that file's content; one that names a directory, or nothing, is refused.
 * Sockets, FIFOs and devices are refused. Hard links are stored as separate files.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { HostRoot } from "../layer/host-root";
import { ABSOLUTE_LEAVES, judgeKeptLink } from "../layer/kept-link";

/** Files at least this big and not executable get a layer of their own (deduplicated across versions). */
export const DEFAULT_FILE_LAYER_THRESHOLD = 1024 * 1024;

export interface TreeEntry {
  /** Path inside the model directory ("/"-separated, never empty). */
  path: string;
  type: "dir" | "file" | "symlink";
  /** Host path to read a file from (may be a symlink to it). */
  source?: string;
  size?: number;
  linkname?: string;
}

export interface BigFile {
  path: string;
  source: string;
  size: number;
}

export interface CollectedModel {
  /** Sorted bytewise by path. */
  tree: TreeEntry[];
  /** Sorted bytewise by path. */
  bigFiles: BigFile[];
}

function inputError(dir: string, message: string, cause?: unknown): PipelineError {
  return new PipelineError(
    "E_MODEL_INPUT",
    `model directory ${dir}: ${message}`,
    cause !== undefined ? { cause } : undefined,
  );
}

function byPath(a: { path: string }, b: { path: string }): number {
  return Buffer.compare(Buffer.from(a.path, "utf8"), Buffer.from(b.path, "utf8"));
}

export function collectModel(dir: string, threshold = DEFAULT_FILE_LAYER_THRESHOLD): CollectedModel {
  let top: Stats;
  try {
    top = statSync(dir);
  } catch (e) {
    throw inputError(dir, `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  if (!top.isDirectory()) throw inputError(dir, "it is not a directory");
  const view = new HostRoot(realpathSync.native(dir));
  const tree: TreeEntry[] = [];
  const bigFiles: BigFile[] = [];
  const addFile = (path: string, source: string, st: Stats) => {
    if (st.size >= threshold && (st.mode & 0o111) === 0) bigFiles.push({ path, source, size: st.size });
    else tree.push({ path, type: "file", source, size: st.size });
  };
  const walk = (hostDir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(hostDir);
    } catch (e) {
      throw inputError(dir, `cannot read ${hostDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
    }
    for (const name of names) {
      const host = join(hostDir, name);
      const path = rel ? `${rel}/${name}` : name;
      if (name.includes("\\"))
        throw inputError(dir, `${JSON.stringify(path)}: a backslash in a file name is not portable`);
      const st = lstatSync(host);
      if (st.isDirectory()) {
        tree.push({ path, type: "dir" });
        walk(host, path);
      } else if (st.isFile()) {
        addFile(path, host, st);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(host);
        if (judgeKeptLink(view, path.split("/"), target, ABSOLUTE_LEAVES).ok) {
          tree.push({ path, type: "symlink", linkname: target });
          continue;
        }
        let real: Stats;
        try {
          real = statSync(host);
        } catch {
          throw inputError(
            dir,
            `symlink ${JSON.stringify(path)} -> ${JSON.stringify(target)} leads outside the directory to nothing (dangling)`,
          );
        }
        if (!real.isFile()) {
          throw inputError(
            dir,
            `symlink ${JSON.stringify(path)} -> ${JSON.stringify(target)} leads outside the directory to something that is not a regular file; copy it in or link inside the directory`,
          );
        }
        addFile(path, host, real);
      } else {
        throw inputError(
          dir,
          `${JSON.stringify(path)} is not a regular file, directory or symlink (sockets, FIFOs and devices are not stored)`,
        );
      }
    }
  };
  walk(dir, "");
  tree.sort(byPath);
  bigFiles.sort(byPath);
  return { tree, bigFiles };
}
