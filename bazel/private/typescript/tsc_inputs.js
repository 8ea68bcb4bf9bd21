// @ts-check
/**
 * The input view of a TsCompile worker request (tsc_worker.js's header, invariant 1): what the compiler may see is
 * the request's inputs alone, as in a sandbox holding only them, whatever else the execroot holds.
 *
 * - `inputView`: the inputs, every directory above one, and where each symlink input leads.
 * - `throughLinks`: a path looked up among them as the file system would resolve it, link by link.
 * - `viewSys`: the compiler's `ts.sys` limited to the view (without one, for one-shot compiles, the whole file system
 *   but the `node_modules` and `package.json` above the working directory: `aboveWorkingDirectory`).
 * - `readLink`: what a symlink input says, read once per path and digest, for this view and for TypeScript 7's trees
 *   of links (tsc_tree.js): one bounded cache for both.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

/**
 * @typedef {{ files: Map<string, string>, dirs: Set<string>, links: Map<string, string> }} InputView
 * `files`: path → digest; `dirs`: every directory above an input; `links`: symlink input → its absolute target.
 * @typedef {ReturnType<typeof import("./tsc_compilers.js").nodeModulesAt>} NodeModules
 */

/**
 * What each input says as a symlink, by path and digest: the text of the link, or "" for an input that is no symlink
 * (or absent). Bazel gives a symlink input (an unresolved symlink, as rules_js links `node_modules/<pkg>` to its
 * package store directory) the digest of its target path, so a changed link is a new key. Bounded, least recently
 * used first: the key changes with every edit of any input, so a worker that lives for a day of edits would keep one
 * entry per version of every file it ever saw. Not cleared per request: a worker's requests name mostly the same
 * inputs (the lib files, @types/node, the deps' trees: thousands per target), and not reading each again on every
 * request is what the cache is for. MAX_LINKS holds the inputs of MAX_STATES targets of a few thousand inputs each.
 * @type {Map<string, string>}
 */
const linkTexts = new Map();
const MAX_LINKS = 1 << 16;

/** The text of the symlink input `f` (as readlink gives it), or "" if it is no symlink. @param {string} f @param {string} digest */
function readLink(f, digest) {
  const key = `${f}\0${digest}`;
  let text = linkTexts.get(key);
  if (text !== undefined) {
    linkTexts.delete(key); // most recently used last
  } else {
    text = "";
    try {
      text = fs.readlinkSync(f);
    } catch {
      // Not a link, or absent.
    }
  }
  linkTexts.set(key, text);
  if (linkTexts.size > MAX_LINKS) linkTexts.delete(/** @type {string} */ (linkTexts.keys().next().value));
  return text;
}

/**
 * The files and directories a request may see: its inputs, and every directory above one (as in a sandbox, where a
 * directory exists only because an input is in it), and through each input that is a symlink (`links`, path →
 * absolute target) what its target leads to among them, as the sandbox's copy of the link would. Paths are absolute.
 * @param {Map<string, string>} inputs path → digest
 * @returns {InputView}
 */
function inputView(inputs) {
  /** @type {Set<string>} */
  const dirs = new Set();
  /** @type {Map<string, string>} */
  const links = new Map();
  for (const [f, digest] of inputs) {
    for (let d = path.dirname(f); !dirs.has(d); d = path.dirname(d)) {
      dirs.add(d);
      if (d === path.dirname(d)) break;
    }
    const text = readLink(f, digest);
    if (text) links.set(f, path.resolve(path.dirname(f), text));
  }
  return { files: inputs, dirs, links };
}

/**
 * The first of `p` and the paths the symlink inputs among its leading parts lead to (link by link, as the file system
 * resolves them) for which `found` answers, or undefined (also after 40 links: a loop). Stopping at the first answer
 * matters where every input is a link (Bazel's sandboxed workers link each input to the execroot): a file or
 * directory among the inputs is taken as it is, never followed out of them.
 * @template T
 * @param {{ links: Map<string, string> }} view @param {string} p @param {(p: string) => T | undefined} found
 * @returns {T | undefined}
 */
function throughLinks(view, p, found) {
  for (let hops = 0; hops < 40; hops++) {
    const answer = found(p);
    if (answer !== undefined || view.links.size === 0) return answer;
    let dir = p;
    let rest = "";
    while (!view.links.has(dir)) {
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      rest = rest ? path.join(path.basename(dir), rest) : path.basename(dir);
      dir = up;
    }
    const target = /** @type {string} */ (view.links.get(dir));
    p = rest ? path.join(target, rest) : target;
  }
  return undefined;
}

/**
 * Whether `p` is a `node_modules` (or what it holds) or a `package.json` in a directory above the working directory,
 * which a one-shot compile does not see: TypeScript looks for packages and for the package.json that decides a file's
 * module format up to `/`, and above the execroot or the sandbox lie the output base and whatever holds it (/tmp or
 * /dev/shm, when the output root or the sandbox base is there: another user's), none of it an input. The worker's view
 * holds the inputs alone; TypeScript 7's trees are hidden the same way (tsc_tree.js HIDDEN_CWD). A working
 * directory inside a `node_modules` keeps that one.
 */
function aboveWorkingDirectory(/** @type {string} */ p) {
  const cwd = process.cwd();
  if (cwd !== aboveCache.cwd) {
    aboveCache.cwd = cwd;
    aboveCache.dirs = [];
    for (let d = path.dirname(cwd); ; d = path.dirname(d)) {
      if (!cwd.startsWith(path.join(d, "node_modules") + path.sep)) aboveCache.dirs.push(d);
      if (path.dirname(d) === d) break;
    }
  }
  const a = path.resolve(p);
  return aboveCache.dirs.some((d) => {
    const nm = path.join(d, "node_modules");
    return a === nm || a.startsWith(nm + path.sep) || a === path.join(d, "package.json");
  });
}
const aboveCache = { cwd: "", dirs: /** @type {string[]} */ ([]) };

/**
 * The compiler's file system for one compile: `ts.sys` seeing only what `view` holds (all of it without a view), with
 * the compile's node_modules (`nodeModules`: tsc_compilers.js nodeModulesAt, given which directories exist) mapped in;
 * and `digestOf`, the input digest of a file, also when it is read through a symlink input (undefined without a view).
 * @param {any} ts the compiler module (any version the rules run in-process: typed loosely)
 * @param {InputView | undefined} view
 * @param {(dirExists: (dir: string) => boolean) => NodeModules} nodeModules
 */
function viewSys(ts, view, nodeModules) {
  const visible = (/** @type {string} */ f) =>
    view
      ? throughLinks(view, path.resolve(f), (p) => (view.files.has(p) ? true : undefined)) === true
      : !aboveWorkingDirectory(f);
  const visibleDir = (/** @type {string} */ d) =>
    view
      ? throughLinks(view, path.resolve(d), (p) => (view.dirs.has(p) ? true : undefined)) === true
      : !aboveWorkingDirectory(d);
  /** @type {(p: string) => string | undefined} */
  const digestOf = (p) => (view ? throughLinks(view, real.path(p), (q) => view.files.get(q)) : undefined);
  const real = nodeModules((d) => visibleDir(d) && ts.sys.directoryExists(d));
  const sys = {
    ...ts.sys,
    fileExists: (/** @type {string} */ f) => visible(real.path(f)) && ts.sys.fileExists(real.path(f)),
    /** @type {(f: string, enc?: string) => string | undefined} */
    readFile: (f, enc) => (visible(real.path(f)) ? ts.sys.readFile(real.path(f), enc) : undefined),
    directoryExists: (/** @type {string} */ d) =>
      real.isRoot(d) || (visibleDir(real.path(d)) && ts.sys.directoryExists(real.path(d))),
    getDirectories: (/** @type {string} */ d) =>
      real.isRoot(d)
        ? real.entries()
        : ts.sys
            .getDirectories(real.path(d))
            .filter((/** @type {string} */ c) => visibleDir(path.join(real.path(d), c))),
    readDirectory: (/** @type {any[]} */ ...a) => ts.sys.readDirectory(...a).filter(visible),
  };
  return { sys, digestOf };
}

module.exports = { inputView, readLink, throughLinks, viewSys };
