/**
 * The trees of links TypeScript 7's native compiler runs in (native.ts): a worker's tree per target, kept between
 * requests and made to hold each request's inputs alone, as Bazel's sandbox would (`syncTree`), a one-shot compile's
 * (`oneShotDir`), all in a directory of our own under the working directory (`ownDir`); the name tsc knows a tree by,
 * which hides what lies above it (`HIDDEN_CWD`, `runIn`); and the compile's `node_modules` in a tree
 * (`linkNodeModules`, the native side of compilers.ts nodeModulesAt).
 */
import type { SpawnSyncOptions } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { readLink } from "./inputs";

/**
 * The compile's `node_modules` in the tree at `root` (see nodeModulesAt): one root, a relative link to it; several, a
 * directory of links to their packages, the first root's first. Made again when `roots` changed (`made`: what it was
 * made for, or undefined) and, with several roots, every time (their packages may have changed); an input of that
 * name (a real `node_modules` at the root) wins. Returns what it made.
 */
export function linkNodeModules(root: string, roots: string[], made: string | undefined): string | undefined {
  const top = join(root, "node_modules");
  const key = roots.join("\0");
  if (made !== undefined) {
    if (made === key && roots.length <= 1) return made;
    rmSync(top, { recursive: true, force: true });
  } else if (existsSync(top)) return undefined;
  if (!roots.length) return key;
  if (roots.length === 1) {
    symlinkSync(normalize(roots[0]), top);
    return key;
  }
  mkdirSync(top);
  const link = (name: string, from: string) => {
    if (!existsSync(join(top, name)) && existsSync(join(root, from, name))) {
      mkdirSync(dirname(join(top, name)), { recursive: true });
      symlinkSync(relative(dirname(join(top, name)), join(root, from, name)), join(top, name));
    }
  };
  for (const r of roots) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, r));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.startsWith("@")) link(n, r);
      else for (const m of readdirSync(join(root, r, n))) link(join(n, m), r);
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
function ownDir(): string {
  const dir = resolve("bazel-out", "rules_pipeline-tsc");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
    throw new Error(
      `${dir} is not a directory of this user (uid ${uid}): it is ${st.isDirectory() ? `owned by uid ${st.uid}` : "not a directory"}`,
    );
  }
  return dir;
}

/** A new directory for one one-shot compile's tree, in `ownDir()`, named after this process for `sweepTrees`. */
export function oneShotDir(): string {
  return mkdtempSync(join(ownDir(), `oneshot-${process.pid}-`));
}

/**
 * A worker's tree of one target: its links (path relative to the tree → link text), its compiler's state beside it
 * (`state`: the outDir and the `.tsbuildinfo` of `tsc --incremental`), kept and dropped with it, the compile's
 * `node_modules` as last made (linkNodeModules) and the last request's inputs (path → digest) that state was made from.
 */
export interface Tree {
  root: string;
  state: string;
  links: Map<string, string>;
  nodeModules: string | undefined;
  inputs: Map<string, string> | undefined;
}

/**
 * A worker's trees, one per target (its generated config), kept between requests so that a request changes only the
 * links of inputs added, removed or re-pointed (a tree made anew cost ~1 ms per input on ext4: 3.5 s for a library
 * of 3,100 inputs, bench P10-tscompile-ts7). Least recently used first, at most MAX_TREES; all under one directory of
 * this process (`worker-<pid>-…` in `ownDir()`), removed when it exits or is signalled, and by the next worker when
 * it was killed outright. A `bazel clean` that removed it under a running worker starts it anew.
 */
const trees = new Map<string, Tree>();
const MAX_TREES = 32;
let treesDir = "";
let treeCount = 0;
let removeOnExit = false;

export function workerTree(project: string): Tree {
  if (treesDir && !existsSync(treesDir)) {
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
    treesDir = mkdtempSync(join(own, `worker-${process.pid}-`));
    if (!removeOnExit) {
      removeOnExit = true;
      const remove = () => treesDir && rmSync(treesDir, { recursive: true, force: true });
      process.on("exit", remove);
      for (const [signal, code] of [
        ["SIGTERM", 143],
        ["SIGINT", 130],
      ] as const) {
        process.once(signal, () => {
          remove();
          process.exit(code);
        });
      }
    }
  }
  const root = join(treesDir, String(++treeCount));
  tree = { root, state: `${root}.state`, links: new Map(), nodeModules: undefined, inputs: undefined };
  trees.set(project, tree);
  while (trees.size > MAX_TREES) {
    const oldest = trees.entries().next();
    if (oldest.done) break;
    const [name, old] = oldest.value;
    trees.delete(name);
    rmSync(old.root, { recursive: true, force: true });
    rmSync(old.state, { recursive: true, force: true });
  }
  return tree;
}

/**
 * Removes from `dir` the trees of processes that are gone (a worker killed before it could remove its own, a one-shot
 * compile killed mid-way): only this user's (an entry of another uid is left alone, whatever put it there), and an
 * entry that cannot be removed is left for later, never an error of the compile that swept.
 */
export function sweepTrees(dir: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(/^(?:worker|oneshot)-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      const st = lstatSync(join(dir, name));
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      if (processExists(pid)) continue;
      rmSync(join(dir, name), { recursive: true, force: true });
    } catch {
      // Gone meanwhile, or not ours to remove: the next sweep tries again.
    }
  }
}

/** Whether process `pid` may be alive: only ESRCH says it is gone (EPERM: another user's, alive). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return !(e instanceof Error && "code" in e && e.code === "ESRCH");
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
const HIDDEN_CWD = process.platform === "linux" && existsSync("/proc/self/cwd") ? "/proc/self/cwd" : "";

/** How tsc is run in the tree `cwd`: the name it knows the tree by (HIDDEN_CWD) and the spawn's options. */
export function runIn(cwd: string): { name: string; options: SpawnSyncOptions } {
  return HIDDEN_CWD
    ? { name: HIDDEN_CWD, options: { cwd, env: { ...process.env, PWD: HIDDEN_CWD } } }
    : { name: cwd, options: { cwd } };
}

/**
 * What the tree's link for an input points to: a relative symlink's text, else the input (read once per path and
 * digest: inputs.ts readLink, the input view's cache too).
 */
function linkText(abs: string, digest: string): string {
  const text = readLink(abs, digest);
  return text && !isAbsolute(text) ? text : abs;
}

/**
 * Whether a worker's tree holds a copy of the input at `rel` (its link's text `text`) rather than a link: a file of
 * the workspace or of Bazel's output tree (not under `external/` nor in a `node_modules`, not a relative link). A
 * resident compiler (resident.ts) watches the directories of the files it read by their real paths: through a link,
 * the user's workspace and Bazel's output directories, where each save and each output Bazel writes would start a
 * build of its own, and the request that follows within 500 ms would wait for it and for tsc's debounce (50 ms).
 */
function copied(rel: string, text: string): boolean {
  return isAbsolute(text) && !rel.startsWith(`external${sep}`) && !rel.split(sep).includes("node_modules");
}

/**
 * Makes `tree` hold the request's `inputs` (absolute path → digest) alone, each at its path relative to `here`, as
 * Bazel's sandbox would: links (with `copyLocal`, copies of the workspace's and Bazel's own files: `copied`) no longer
 * wanted go, with the directories they leave empty (a directory exists only while an input is under it), and new ones
 * are made; a copy whose digest changed is copied again in place. `before`: the inputs the tree holds now, if known;
 * then only the paths added, removed or whose digest changed are looked at (3,500 inputs: ~14 ms → ~1 ms).
 */
export function syncTree(
  tree: { root: string; links: Map<string, string> },
  inputs: Map<string, string>,
  here: string,
  copyLocal = false,
  before?: Map<string, string>,
) {
  const want = new Map<string, string>();
  const digests = new Map<string, string>();
  /** The tree's entries to look at: every one, or with `before` those of the paths changed or removed. */
  let looked: Iterable<[string, string]> = tree.links;
  /** Records what the tree wants at the input's path; returns that path (relative to `here`). */
  const consider = (abs: string, digest: string): string => {
    const rel = relative(here, abs);
    if (rel.startsWith("..") || isAbsolute(rel)) return rel;
    const text = linkText(abs, digest);
    want.set(rel, copyLocal && copied(rel, text) ? copyMark(digest) : text);
    digests.set(rel, digest);
    return rel;
  };
  if (before) {
    let added = 0;
    const touched: string[] = [];
    for (const [abs, digest] of inputs) {
      const was = before.get(abs);
      if (was === digest) continue;
      if (was === undefined) added++;
      touched.push(consider(abs, digest));
    }
    if (before.size > inputs.size - added)
      for (const abs of before.keys()) if (!inputs.has(abs)) touched.push(relative(here, abs));
    looked = touched.flatMap((rel) => {
      const text = tree.links.get(rel);
      return text === undefined ? [] : [[rel, text] as [string, string]];
    });
  } else for (const [abs, digest] of inputs) consider(abs, digest);
  for (const [rel, text] of [...looked]) {
    const wanted = want.get(rel);
    // A copy (kept, or copied again below in place: tsc sees a change, never a file removed and made).
    if (wanted === text || text === copyMark(digests.get(rel)) || (wanted?.startsWith(COPY) && text.startsWith(COPY)))
      continue;
    rmSync(join(tree.root, rel), { force: true });
    tree.links.delete(rel);
    for (let d = dirname(rel); d !== "."; d = dirname(d)) {
      try {
        rmdirSync(join(tree.root, d));
      } catch {
        break;
      }
    }
  }
  const made = new Set<string>();
  for (const [rel, text] of want) {
    const has = tree.links.get(rel);
    if (has === text || (has !== undefined && !text.startsWith(COPY))) continue;
    const dir = dirname(join(tree.root, rel));
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    if (text.startsWith(COPY)) copyIn(tree, rel, join(here, rel), text);
    else {
      symlinkSync(text, join(tree.root, rel));
      tree.links.set(rel, text);
    }
  }
}

/** How `tree.links` marks an entry that is a copy of an input (copyChanged), not a link: COPY and the digest. */
const COPY = "\0copy ";

function copyMark(digest: string | undefined): string {
  return `${COPY}${digest}`;
}

let copyTime = 0;

/**
 * Makes the tree's entries for `changed` inputs (absolute paths whose digest differs from the last request's; plain
 * links to them) copies with a modification time of their own, strictly later than any given before, written
 * beside and renamed into place: a compiler that keeps parsed files by path and modification time (resident.ts) sees
 * every change, whatever modification time the input itself has.
 */
export function copyChanged(
  tree: { root: string; links: Map<string, string> },
  changed: Map<string, string>,
  here: string,
): void {
  for (const [abs, digest] of changed) {
    const rel = relative(here, abs);
    const text = tree.links.get(rel);
    if (text === undefined || text === copyMark(digest) || (text !== abs && !text.startsWith(COPY))) continue;
    copyIn(tree, rel, abs, copyMark(digest));
  }
}

/**
 * The tree's entry at `rel` made a copy of `abs` (marked `mark`) with a modification time of its own, strictly later
 * than any given before, written beside and renamed into place.
 */
function copyIn(tree: { root: string; links: Map<string, string> }, rel: string, abs: string, mark: string): void {
  const dest = join(tree.root, rel);
  const tmp = `${dest}.copy-${process.pid}`;
  copyFileSync(abs, tmp);
  copyTime = Math.max(Date.now() / 1000, copyTime + 0.01);
  utimesSync(tmp, copyTime, copyTime);
  renameSync(tmp, dest);
  tree.links.set(rel, mark);
}
