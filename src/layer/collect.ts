/**
 * A layer's inputs turned into its tar entries (buildLayer's first step, ./build.ts): each destination checked,
 * directories walked (following links, like `find -L`; loops refused; a `within` root never left: ./host-root.ts),
 * duplicates collapsed when they are the same content, mode and owner and refused naming both sources otherwise,
 * every parent directory made explicit, and the entries sorted by path bytewise, so the order of the inputs and of
 * the file system never shows in the layer.
 */
import { lstatSync, readdirSync, statSync, type Stats } from "node:fs";
import { PipelineError } from "../errors";
import { fileDigest, sha256 } from "../oci/digest";
import { followInside } from "./host-root";
import type { TarEntry } from "./tar";

export interface LayerInput {
  /** Path inside the image, e.g. "app/examples/hello/main.js". A leading "/" is allowed and stripped; "/" alone (the root) only with a directory `src`. */
  dest: string;
  /** A file or directory on disk. Symlinks are followed; a directory is copied recursively (like `find -L`). */
  src?: string;
  /** A real directory nothing of `src` may come from: links followed only inside, files read as listed (host-root.ts). */
  within?: string;
  /** File content held in memory. */
  content?: Buffer;
  /** Permission bits for a `content` or file `src` entry, or a `dir` entry. Default: 0755 if the file has any x bit, else 0644; directories 0755. */
  mode?: number;
  /** Makes `dest` a symlink with this target. */
  symlink?: string;
  /** Makes `dest` an (empty) directory, e.g. `{ dest: "/tmp", dir: true, mode: 0o1777 }`. */
  dir?: boolean;
  /** Owner ids of this entry (not of a directory src's children); default 0. */
  uid?: number;
  gid?: number;
}

/** Validates a dest and returns it without its leading "/". "" is the root. */
export function normalizeDest(dest: unknown): string {
  if (typeof dest !== "string") throw destError(dest, "it must be a string");
  if (dest === "/") return "";
  if (dest.includes("\0")) throw destError(dest, "it contains a NUL byte");
  if (dest.includes("\\")) throw destError(dest, 'it contains a backslash; use "/" to separate path components');
  const p = dest.startsWith("/") ? dest.slice(1) : dest;
  if (p === "") throw destError(dest, "it is empty");
  for (const part of p.split("/")) {
    if (part === "") throw destError(dest, 'it has an empty path component (a doubled or trailing "/")');
    if (part === ".") throw destError(dest, 'it has a "." path component');
    if (part === "..") throw destError(dest, 'it has a ".." path component');
  }
  return p;
}

function destError(dest: unknown, why: string): PipelineError {
  return new PipelineError("E_LAYER_DEST", `layer destination ${JSON.stringify(dest)} is not allowed: ${why}`);
}

function inputError(message: string, cause?: unknown): PipelineError {
  return new PipelineError("E_LAYER_INPUT", message, cause !== undefined ? { cause } : undefined);
}

/** An entry being collected, with where it came from (for messages and duplicate checks). */
interface Collected {
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  source?: string;
  content?: Buffer;
  linkname?: string;
  /** dev:ino of a source file, to recognise the same file reached twice. */
  id?: string;
  within?: string;
  /** Describes the origin: "src /x/y", "content", "symlink", "parent directory of a/b". */
  origin: string;
  /** A directory created only because something lies under it (may be overridden by an explicit one). */
  implicit?: boolean;
}

function fileMode(st: Stats): number {
  return st.mode & 0o111 ? 0o755 : 0o644;
}

function checkMode(mode: number | undefined, dest: string): number | undefined {
  if (mode === undefined) return undefined;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw inputError(`layer input ${JSON.stringify(dest)}: mode must be an integer between 0 and 0o7777, got ${mode}`);
  }
  return mode;
}

function checkId(id: number | undefined, what: string, dest: string): number {
  if (id === undefined) return 0;
  if (!Number.isSafeInteger(id) || id < 0)
    throw inputError(`layer input ${JSON.stringify(dest)}: ${what} must be a non-negative integer, got ${id}`);
  return id;
}

/*
 * Collecting uses synchronous stat/readdir on purpose. Measured on this project's 2-core machines with a
 * generated tree of 20,000 files in 1,600 directories: a synchronous walk takes ~100 ms warm and ~860 ms
 * with a cold page cache; the leanest callback-based walk (64 or 8 calls in flight) ~600 ms warm and
 * ~1,150 ms cold, fs.promises more still. Each async call costs a threadpool round trip and garbage that
 * outweigh the parallelism for metadata calls that mostly hit the cache. Nothing else of ours runs while
 * the entries are collected, so blocking the event loop here costs nothing.
 */
function statSource(src: string, dest: string, within?: string): Stats {
  try {
    return within === undefined ? statSync(src) : lstatSync(src);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist (or is a dangling symlink)" : (e as Error).message;
    throw inputError(`layer input ${JSON.stringify(dest)}: source ${src} ${why}`, e);
  }
}

/** Expands one input into collected entries. */
function expandInput(input: LayerInput, out: Collected[]): void {
  const path = normalizeDest(input.dest);
  const given = [
    input.src !== undefined,
    input.content !== undefined,
    input.symlink !== undefined,
    input.dir === true,
  ].filter(Boolean).length;
  if (given !== 1) {
    throw inputError(
      `layer input ${JSON.stringify(input.dest)}: give exactly one of src, content, symlink or dir: true`,
    );
  }
  const mode = checkMode(input.mode, input.dest);
  const uid = checkId(input.uid, "uid", input.dest);
  const gid = checkId(input.gid, "gid", input.dest);
  if (path === "" && input.src === undefined)
    throw destError(input.dest, "only a directory src can be placed at the root");

  if (input.content !== undefined) {
    if (!Buffer.isBuffer(input.content))
      throw inputError(`layer input ${JSON.stringify(input.dest)}: content must be a Buffer`);
    out.push({
      path,
      type: "file",
      mode: mode ?? 0o644,
      uid,
      gid,
      size: input.content.length,
      content: input.content,
      origin: "in-memory content",
    });
    return;
  }
  if (input.symlink !== undefined) {
    if (typeof input.symlink !== "string" || input.symlink === "" || input.symlink.includes("\0")) {
      throw inputError(
        `layer input ${JSON.stringify(input.dest)}: invalid symlink target ${JSON.stringify(input.symlink)}`,
      );
    }
    out.push({
      path,
      type: "symlink",
      mode: mode ?? 0o777,
      uid,
      gid,
      linkname: input.symlink,
      origin: `symlink to ${input.symlink}`,
    });
    return;
  }
  if (input.dir) {
    out.push({ path, type: "dir", mode: mode ?? 0o755, uid, gid, origin: "directory entry" });
    return;
  }
  const src = input.src!;
  if (typeof src !== "string" || src === "")
    throw inputError(`layer input ${JSON.stringify(input.dest)}: src must be a non-empty path`);
  const { within } = input;
  const st = statSource(src, input.dest, within);
  if (st.isFile()) {
    if (path === "") throw destError(input.dest, "a file cannot be placed at the root");
    out.push({
      path,
      type: "file",
      mode: mode ?? fileMode(st),
      uid,
      gid,
      size: st.size,
      source: src,
      id: `${st.dev}:${st.ino}`,
      within,
      origin: `src ${src}`,
    });
    return;
  }
  if (!st.isDirectory())
    throw inputError(
      `layer input ${JSON.stringify(input.dest)}: source ${src} is neither a regular file nor a directory`,
    );
  if (input.mode !== undefined) {
    throw inputError(
      `layer input ${JSON.stringify(input.dest)}: mode cannot be given for a directory src (${src}); its files keep 0755/0644`,
    );
  }
  if (path !== "") out.push({ path, type: "dir", mode: 0o755, uid, gid, origin: `src ${src}`, implicit: true });
  walkDir(src, path, [`${st.dev}:${st.ino}`], out, input.dest, within);
}

/** Recursively collects a directory's content, following symlinks (like `find -L`); refuses symlink loops. */
function walkDir(
  dir: string,
  destDir: string,
  ancestors: string[],
  out: Collected[],
  inputDest: string,
  within?: string,
): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw inputError(
      `layer input ${JSON.stringify(inputDest)}: cannot read directory ${dir}: ${(e as Error).message}`,
      e,
    );
  }
  for (const name of names) {
    const dest = destDir === "" ? name : `${destDir}/${name}`;
    if (name.includes("\\")) normalizeDest(dest); // names from readdir have no "/", ".", ".." or NUL; a backslash is refused
    const { st, real: src } =
      within === undefined
        ? { st: statSource(`${dir}/${name}`, inputDest), real: `${dir}/${name}` }
        : followInside(`${dir}/${name}`, within, (p) => statSource(p, inputDest, within));
    if (st.isFile()) {
      out.push({
        path: dest,
        type: "file",
        mode: fileMode(st),
        uid: 0,
        gid: 0,
        size: st.size,
        source: src,
        id: `${st.dev}:${st.ino}`,
        within,
        origin: `src ${src}`,
      });
    } else if (st.isDirectory()) {
      const id = `${st.dev}:${st.ino}`;
      if (ancestors.includes(id)) {
        throw inputError(
          `layer input ${JSON.stringify(inputDest)}: ${src} leads back to one of its own parent directories (symlink loop)`,
        );
      }
      out.push({ path: dest, type: "dir", mode: 0o755, uid: 0, gid: 0, origin: `src ${src}`, implicit: true });
      ancestors.push(id);
      walkDir(src, dest, ancestors, out, inputDest, within);
      ancestors.pop();
    } else {
      throw inputError(
        `layer input ${JSON.stringify(inputDest)}: ${src} is neither a regular file nor a directory (sockets, FIFOs and devices are not copied)`,
      );
    }
  }
}

async function sameContent(a: Collected, b: Collected): Promise<boolean> {
  if (a.size !== b.size) return false;
  if (a.id !== undefined && a.id === b.id) return true;
  const digestOf = async (c: Collected) => (c.content !== undefined ? sha256(c.content) : fileDigest(c.source!));
  return (await digestOf(a)) === (await digestOf(b));
}

function conflict(path: string, a: Collected, b: Collected, why: string): PipelineError {
  return new PipelineError(
    "E_LAYER_CONFLICT",
    `layer destination ${JSON.stringify(path)} is given twice ${why}: ${a.origin} and ${b.origin}`,
  );
}

/** Merges a duplicate into `kept`, or throws naming both sources. */
async function merge(kept: Collected, dup: Collected): Promise<Collected> {
  const path = kept.path;
  if (kept.type !== dup.type) throw conflict(path, kept, dup, `as a ${kept.type} and as a ${dup.type}`);
  if (kept.type === "dir") {
    if (kept.implicit) return dup;
    if (dup.implicit) return kept;
    if (kept.mode !== dup.mode || kept.uid !== dup.uid || kept.gid !== dup.gid)
      throw conflict(path, kept, dup, "with different modes or owners");
    return kept;
  }
  if (kept.type === "symlink") {
    if (kept.linkname !== dup.linkname) throw conflict(path, kept, dup, "with different targets");
  } else if (!(await sameContent(kept, dup))) {
    throw conflict(path, kept, dup, "with different content");
  }
  if (kept.mode !== dup.mode)
    throw conflict(path, kept, dup, `with different modes (${kept.mode.toString(8)} and ${dup.mode.toString(8)})`);
  if (kept.uid !== dup.uid || kept.gid !== dup.gid) throw conflict(path, kept, dup, "with different owners");
  return kept;
}

/**
 * Turns layer inputs into the sorted tar entries of the layer: directories expanded, duplicates
 * collapsed or refused, parents added, sorted by path bytewise.
 */
export async function collectEntries(files: readonly LayerInput[]): Promise<TarEntry[]> {
  const collected: Collected[] = [];
  for (const f of files) expandInput(f, collected);

  // Collapse duplicates, in a fixed order so the outcome never depends on the order of the inputs.
  const byPath = new Map<string, Collected>();
  const dups = new Map<string, Collected[]>();
  for (const c of collected) {
    const kept = byPath.get(c.path);
    if (!kept) byPath.set(c.path, c);
    else {
      const list = dups.get(c.path);
      if (list) list.push(c);
      else dups.set(c.path, [kept, c]);
    }
  }
  for (const [path, list] of dups) {
    list.sort((a, b) => cmp(a.origin, b.origin));
    let kept = list[0];
    for (const c of list.slice(1)) kept = await merge(kept, c);
    byPath.set(path, kept);
  }
  // Parents of every entry, as explicit directories.
  for (const c of [...byPath.values()]) {
    let p = c.path;
    for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/")) {
      p = p.slice(0, i);
      const kept = byPath.get(p);
      if (kept) {
        if (kept.type !== "dir") {
          throw new PipelineError(
            "E_LAYER_CONFLICT",
            `layer destination ${JSON.stringify(p)} is a ${kept.type} (${kept.origin}) but ${JSON.stringify(c.path)} (${c.origin}) needs it to be a directory`,
          );
        }
        break; // its own parents are (or will be) handled from it
      }
      byPath.set(p, {
        path: p,
        type: "dir",
        mode: 0o755,
        uid: 0,
        gid: 0,
        origin: `parent directory of ${c.path}`,
        implicit: true,
      });
    }
  }
  const keyed = [...byPath.values()].map((c) => ({ c, key: Buffer.from(c.path, "utf8") }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map(({ c }) => {
    const e: TarEntry = { path: c.path, type: c.type, mode: c.mode };
    if (c.uid) e.uid = c.uid;
    if (c.gid) e.gid = c.gid;
    if (c.type === "file") {
      e.size = c.size;
      if (c.content !== undefined) e.content = c.content;
      else e.source = c.source;
      if (c.within !== undefined) e.within = c.within;
    }
    if (c.type === "symlink") e.linkname = c.linkname;
    return e;
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
