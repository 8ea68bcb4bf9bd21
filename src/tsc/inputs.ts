/**
 * The input view of a TsCompile worker request (src/tsc/worker.ts's header, invariant 1): what the compiler may see is
 * the request's inputs alone, as in a sandbox holding only them, whatever else the execroot holds.
 *
 * - `inputView`: the inputs, every directory above one, and where each symlink input leads.
 * - `throughLinks`: a path looked up among them as the file system would resolve it, link by link.
 * - `viewSys`: the compiler's `ts.sys` limited to the view (without one, for one-shot compiles, the whole file system
 *   but the `node_modules` and `package.json` above the working directory: `aboveWorkingDirectory`).
 * - `readLink`: what a symlink input says, read once per path and digest, for this view and for TypeScript 7's trees
 *   of links (tree.ts): one bounded cache for both.
 */
import { readlinkSync } from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";
import type * as ts from "typescript";

/** `files`: path → digest; `dirs`: every directory above an input; `links`: symlink input → its absolute target. */
export interface InputView {
  files: Map<string, string>;
  dirs: Set<string>;
  links: Map<string, string>;
}

/**
 * The compile's `node_modules` (compilers.ts `nodeModulesAt`): `path` maps a path under it to the file it stands for;
 * `isRoot` and `entries` answer for the directory itself.
 */
export interface NodeModules {
  isRoot(p: string): boolean;
  path(p: string): string;
  entries(): string[];
}

/**
 * What each input says as a symlink, by path and digest: the text of the link, or "" for an input that is no symlink
 * (or absent). Bazel gives a symlink input (an unresolved symlink, as rules_js links `node_modules/<pkg>` to its
 * package store directory) the digest of its target path, so a changed link is a new key. Bounded, least recently
 * used first: the key changes with every edit of any input, so a worker that lives for a day of edits would keep one
 * entry per version of every file it ever saw. Not cleared per request: a worker's requests name mostly the same
 * inputs (the lib files, @types/node, the deps' trees: thousands per target), and not reading each again on every
 * request is what the cache is for. MAX_LINKS holds the inputs of MAX_STATES targets of a few thousand inputs each.
 */
const linkTexts = new Map<string, string>();
const MAX_LINKS = 1 << 16;

/** The text of the symlink input `f` (as readlink gives it), or "" if it is no symlink. */
export function readLink(f: string, digest: string): string {
  const key = `${f}\0${digest}`;
  let text = linkTexts.get(key);
  if (text !== undefined) {
    linkTexts.delete(key); // most recently used last
  } else {
    text = "";
    try {
      text = readlinkSync(f);
    } catch {
      // Not a link, or absent.
    }
  }
  linkTexts.set(key, text);
  if (linkTexts.size > MAX_LINKS) {
    const oldest = linkTexts.keys().next();
    if (!oldest.done) linkTexts.delete(oldest.value);
  }
  return text;
}

/**
 * The files and directories a request may see: its inputs, and every directory above one (as in a sandbox, where a
 * directory exists only because an input is in it), and through each input that is a symlink (`links`, path →
 * absolute target) what its target leads to among them, as the sandbox's copy of the link would. Paths are absolute.
 * @param inputs path → digest
 */
export function inputView(inputs: Map<string, string>): InputView {
  const dirs = new Set<string>();
  const links = new Map<string, string>();
  for (const [f, digest] of inputs) {
    for (let d = dirname(f); !dirs.has(d); d = dirname(d)) {
      dirs.add(d);
      if (d === dirname(d)) break;
    }
    const text = readLink(f, digest);
    if (text) links.set(f, resolve(dirname(f), text));
  }
  return { files: inputs, dirs, links };
}

/**
 * The first of `p` and the paths the symlink inputs among its leading parts lead to (link by link, as the file system
 * resolves them) for which `found` answers, or undefined (also after 40 links: a loop). Stopping at the first answer
 * matters where every input is a link (Bazel's sandboxed workers link each input to the execroot): a file or
 * directory among the inputs is taken as it is, never followed out of them.
 */
export function throughLinks<T>(
  view: { links: Map<string, string> },
  p: string,
  found: (p: string) => T | undefined,
): T | undefined {
  for (let hops = 0; hops < 40; hops++) {
    const answer = found(p);
    if (answer !== undefined || view.links.size === 0) return answer;
    let dir = p;
    let rest = "";
    let target = view.links.get(dir);
    while (target === undefined) {
      const up = dirname(dir);
      if (up === dir) return undefined;
      rest = rest ? join(basename(dir), rest) : basename(dir);
      dir = up;
      target = view.links.get(dir);
    }
    p = rest ? join(target, rest) : target;
  }
  return undefined;
}

const aboveCache = { cwd: "", dirs: [] as string[] };

/**
 * Whether `p` is a `node_modules` (or what it holds) or a `package.json` in a directory above the working directory,
 * which a one-shot compile does not see: TypeScript looks for packages and for the package.json that decides a file's
 * module format up to `/`, and above the execroot or the sandbox lie the output base and whatever holds it (/tmp or
 * /dev/shm, when the output root or the sandbox base is there: another user's), none of it an input. The worker's view
 * holds the inputs alone; TypeScript 7's trees are hidden the same way (tree.ts HIDDEN_CWD). A working directory
 * inside a `node_modules` keeps that one.
 */
function aboveWorkingDirectory(p: string): boolean {
  const cwd = process.cwd();
  if (cwd !== aboveCache.cwd) {
    aboveCache.cwd = cwd;
    aboveCache.dirs = [];
    for (let d = dirname(cwd); ; d = dirname(d)) {
      if (!cwd.startsWith(join(d, "node_modules") + sep)) aboveCache.dirs.push(d);
      if (dirname(d) === d) break;
    }
  }
  const a = resolve(p);
  return aboveCache.dirs.some((d) => {
    const nm = join(d, "node_modules");
    return a === nm || a.startsWith(nm + sep) || a === join(d, "package.json");
  });
}

/** The compiler's file system for one compile (`viewSys`), and the input digest of a file. */
export interface ViewSys {
  sys: ts.System;
  digestOf: (p: string) => string | undefined;
}

/**
 * The compiler's file system for one compile: `ts.sys` seeing only what `view` holds (all of it without a view), with
 * the compile's node_modules (`nodeModules`: compilers.ts nodeModulesAt, given which directories exist) mapped in;
 * and `digestOf`, the input digest of a file, also when it is read through a symlink input (undefined without a view).
 */
export function viewSys(
  tsApi: typeof ts,
  view: InputView | undefined,
  nodeModules: (dirExists: (dir: string) => boolean) => NodeModules,
): ViewSys {
  const base = tsApi.sys;
  const visible = (f: string) =>
    view
      ? throughLinks(view, resolve(f), (p) => (view.files.has(p) ? true : undefined)) === true
      : !aboveWorkingDirectory(f);
  const visibleDir = (d: string) =>
    view
      ? throughLinks(view, resolve(d), (p) => (view.dirs.has(p) ? true : undefined)) === true
      : !aboveWorkingDirectory(d);
  const real = nodeModules((d) => visibleDir(d) && base.directoryExists(d));
  const digestOf = (p: string) => (view ? throughLinks(view, real.path(p), (q) => view.files.get(q)) : undefined);
  const sys: ts.System = {
    ...base,
    fileExists: (f) => visible(real.path(f)) && base.fileExists(real.path(f)),
    readFile: (f, enc) => (visible(real.path(f)) ? base.readFile(real.path(f), enc) : undefined),
    directoryExists: (d) => real.isRoot(d) || (visibleDir(real.path(d)) && base.directoryExists(real.path(d))),
    getDirectories: (d) =>
      real.isRoot(d)
        ? real.entries()
        : base.getDirectories(real.path(d)).filter((c) => visibleDir(join(real.path(d), c))),
    readDirectory: (...a) => base.readDirectory(...a).filter(visible),
  };
  return { sys, digestOf };
}

/** A path that `resolve` would change beyond joining it to a base: empty, `.` or `..` segments, `//`, absolute, a trailing `/`. */
const NOT_PLAIN = /^$|(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$/;

/**
 * `resolve(base, p)` for a request's input path: Bazel's exec paths are plain relative paths, joined as they are
 * (`resolve` took 6-14 ms for a request of 3,500 inputs, the joins ~1.5 ms); any other goes through `resolve`.
 */
export function absolute(base: string, p: string): string {
  return process.platform === "win32" || NOT_PLAIN.test(p) ? resolve(base, p) : `${base}/${p}`;
}
