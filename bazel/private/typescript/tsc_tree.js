// @ts-check
/**
 * The trees of links TypeScript 7's native compiler runs in (tsc_compilers.js compileNative): a worker's tree per
 * target, kept between requests and made to hold each request's inputs alone, as Bazel's sandbox would (`syncTree`),
 * a one-shot compile's (`oneShotDir`), all in a directory of our own under the working directory (`ownDir`); the name
 * tsc knows a tree by, which hides what lies above it (`HIDDEN_CWD`, `runIn`); and the compile's `node_modules` in a
 * tree (`linkNodeModules`, the native side of tsc_compilers.js nodeModulesAt).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { readLink } = require("./tsc_inputs.js");

/**
 * The compile's `node_modules` in the tree at `root` (see nodeModulesAt): one root, a relative link to it; several, a
 * directory of links to their packages, the first root's first. Made again when `roots` changed (`made`: what it was
 * made for, or undefined) and, with several roots, every time (their packages may have changed); an input of that
 * name (a real `node_modules` at the root) wins. Returns what it made.
 * @param {string} root @param {string[]} roots @param {string | undefined} made
 */
function linkNodeModules(root, roots, made) {
  const top = path.join(root, "node_modules");
  const key = roots.join("\0");
  if (made !== undefined) {
    if (made === key && roots.length <= 1) return made;
    fs.rmSync(top, { recursive: true, force: true });
  } else if (fs.existsSync(top)) return undefined;
  if (!roots.length) return key;
  if (roots.length === 1) {
    fs.symlinkSync(path.normalize(roots[0]), top);
    return key;
  }
  fs.mkdirSync(top);
  const link = (/** @type {string} */ name, /** @type {string} */ from) => {
    if (!fs.existsSync(path.join(top, name)) && fs.existsSync(path.join(root, from, name))) {
      fs.mkdirSync(path.dirname(path.join(top, name)), { recursive: true });
      fs.symlinkSync(
        path.relative(path.dirname(path.join(top, name)), path.join(root, from, name)),
        path.join(top, name),
      );
    }
  };
  for (const r of roots) {
    /** @type {string[]} */
    let names = [];
    try {
      names = fs.readdirSync(path.join(root, r));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.startsWith("@")) link(n, r);
      else for (const m of fs.readdirSync(path.join(root, r, n))) link(path.join(n, m), r);
    }
  }
  return key;
}

/**
 * The directory of our own that every tree of this working directory lives in: `bazel-out/rules_pipeline-tsc` (mode
 * 0700) under the working directory, the execroot or the sandbox, whose `bazel-out` Bazel keeps between builds (a
 * worker's trees outlive a build; Bazel deletes the execroot's other entries when it links it again) and only this
 * user can write. Never the system's temporary directory: other users of the machine can write there, create entries
 * above a tree (a `node_modules`, a `package.json`) or leave entries this user cannot remove (docs/supply-chain.md).
 */
function ownDir() {
  const dir = path.resolve("bazel-out", "rules_pipeline-tsc");
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
    throw new Error(
      `${dir} is not a directory of this user (uid ${uid}): it is ${st.isDirectory() ? `owned by uid ${st.uid}` : "not a directory"}`,
    );
  }
  return dir;
}

/** A new directory for one one-shot compile's tree, in `ownDir()`, named after this process for `sweepTrees`. */
function oneShotDir() {
  return fs.mkdtempSync(path.join(ownDir(), `oneshot-${process.pid}-`));
}

/**
 * A worker's trees, one per target (its generated config), kept between requests so that a request changes only the
 * links of inputs added, removed or re-pointed (a tree made anew cost ~1 ms per input on ext4: 3.5 s for a library
 * of 3,100 inputs, bench P10-tscompile-ts7). Least recently used first, at most MAX_TREES; all under one directory of
 * this process (`worker-<pid>-…` in `ownDir()`), removed when it exits or is signalled, and by the next worker when
 * it was killed outright. A `bazel clean` that removed it under a running worker starts it anew.
 * Beside each tree, its compiler's state (`state`: the outDir and the `.tsbuildinfo` of `tsc --incremental`), kept
 * and dropped with it, and the last request's inputs (`inputs`, path → digest) that state was made from.
 * @typedef {{ root: string, state: string, links: Map<string, string>, nodeModules: string | undefined,
 *   inputs: Map<string, string> | undefined }} Tree
 * @type {Map<string, Tree>}
 */
const trees = new Map();
const MAX_TREES = 32;
let treesDir = "";
let treeCount = 0;
let removeOnExit = false;

function workerTree(/** @type {string} */ project) {
  if (treesDir && !fs.existsSync(treesDir)) {
    trees.clear();
    treesDir = "";
  }
  let tree = trees.get(project);
  if (tree) {
    trees.delete(project);
    trees.set(project, tree);
    return tree;
  }
  if (!treesDir) {
    const own = ownDir();
    sweepTrees(own);
    treesDir = fs.mkdtempSync(path.join(own, `worker-${process.pid}-`));
    if (!removeOnExit) {
      removeOnExit = true;
      const remove = () => treesDir && fs.rmSync(treesDir, { recursive: true, force: true });
      process.on("exit", remove);
      for (const [signal, code] of /** @type {const} */ ([
        ["SIGTERM", 143],
        ["SIGINT", 130],
      ])) {
        process.once(signal, () => {
          remove();
          process.exit(code);
        });
      }
    }
  }
  const root = path.join(treesDir, String(++treeCount));
  tree = { root, state: `${root}.state`, links: new Map(), nodeModules: undefined, inputs: undefined };
  trees.set(project, tree);
  while (trees.size > MAX_TREES) {
    const [oldest, old] = /** @type {[string, { root: string, state: string }]} */ (trees.entries().next().value);
    trees.delete(oldest);
    fs.rmSync(old.root, { recursive: true, force: true });
    fs.rmSync(old.state, { recursive: true, force: true });
  }
  return tree;
}

/**
 * Removes from `dir` the trees of processes that are gone (a worker killed before it could remove its own, a one-shot
 * compile killed mid-way): only this user's (an entry of another uid is left alone, whatever put it there), and an
 * entry that cannot be removed is left for later, never an error of the compile that swept.
 */
function sweepTrees(/** @type {string} */ dir) {
  /** @type {string[]} */
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(/^(?:worker|oneshot)-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      const st = fs.lstatSync(path.join(dir, name));
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      try {
        process.kill(pid, 0);
        continue;
      } catch (e) {
        if (/** @type {NodeJS.ErrnoException} */ (e).code !== "ESRCH") continue;
      }
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    } catch {
      // Gone meanwhile, or not ours to remove: the next sweep tries again.
    }
  }
}

/**
 * The name tsc is given for its working directory (the compile's tree) on Linux: tsc resolves packages and finds the
 * package.json that decides a file's module format by walking up from a file's directory to `/`, through every
 * directory above the tree (the execroot or sandbox, the output base, and whatever holds them: /tmp, /dev/shm, a
 * home), where a `node_modules` or a `package.json` that is no input of the compile (another user's, planted; the
 * workspace's own) would change its answer. Named /proc/self/cwd (tsc takes `$PWD` for its working directory when it
 * names the same directory, as Go's os.Getwd does), the tree's files have only /proc/self, /proc and / above them,
 * where nobody but root can put anything. Elsewhere the tree's real path is used.
 */
const HIDDEN_CWD = process.platform === "linux" && fs.existsSync("/proc/self/cwd") ? "/proc/self/cwd" : "";

/** How tsc is run in the tree `cwd`: the name it knows the tree by (HIDDEN_CWD) and the spawn's options. */
function runIn(/** @type {string} */ cwd) {
  return HIDDEN_CWD
    ? { name: HIDDEN_CWD, options: { cwd, env: { ...process.env, PWD: HIDDEN_CWD } } }
    : { name: cwd, options: { cwd } };
}

/**
 * What the tree's link for an input points to: a relative symlink's text, else the input (read once per path and
 * digest: tsc_inputs.js readLink, the input view's cache too).
 * @param {string} abs @param {string} digest
 */
function linkText(abs, digest) {
  const text = readLink(abs, digest);
  return text && !path.isAbsolute(text) ? text : abs;
}

/**
 * Makes `tree` hold links to the request's `inputs` (absolute path → digest) alone, each at its path relative to
 * `here`, as Bazel's sandbox would: links no longer wanted go, with the directories they leave empty (a directory
 * exists only while an input is under it), and new ones are made.
 * @param {{ root: string, links: Map<string, string> }} tree @param {Map<string, string>} inputs @param {string} here
 */
function syncTree(tree, inputs, here) {
  /** @type {Map<string, string>} */
  const want = new Map();
  for (const [abs, digest] of inputs) {
    const rel = path.relative(here, abs);
    if (!rel.startsWith("..") && !path.isAbsolute(rel)) want.set(rel, linkText(abs, digest));
  }
  for (const [rel, text] of tree.links) {
    if (want.get(rel) === text) continue;
    fs.rmSync(path.join(tree.root, rel), { force: true });
    tree.links.delete(rel);
    for (let d = path.dirname(rel); d !== "."; d = path.dirname(d)) {
      try {
        fs.rmdirSync(path.join(tree.root, d));
      } catch {
        break;
      }
    }
  }
  const made = new Set();
  for (const [rel, text] of want) {
    if (tree.links.has(rel)) continue;
    const dir = path.dirname(path.join(tree.root, rel));
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    fs.symlinkSync(text, path.join(tree.root, rel));
    tree.links.set(rel, text);
  }
}

module.exports = { linkNodeModules, oneShotDir, runIn, sweepTrees, syncTree, workerTree };
