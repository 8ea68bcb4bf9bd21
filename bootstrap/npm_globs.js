// @ts-check
"use strict";
/**
 * The fetch-time side of npm_repo.bzl's file lists, run by the Node the rules use. No dependencies: it runs before
 * any npm package is installed.
 *
 *   node npm_globs.js SPEC OUT     SPEC: {"patterns": [...], "excludes": [...]} (JSON file), paths relative to the
 *                                  working directory (the repository); writes OUT, a .bzl file the BUILD file loads:
 *                                  `GLOBS = {pattern: [file, ...]}`, names as the file system's bytes (Bazel reads
 *                                  them as Latin-1, as it reads file names: they never pass through a Starlark
 *                                  string of the repository rule, whose file writes may re-encode them as UTF-8)
 *
 * Why: a BUILD file that globs node_modules makes Bazel keep a directory listing of every directory of the tree and
 * check each one again before every build (thousands of readdirs on each `bazel build`, ~40 ms of a warm no-op build
 * on the bench's monorepo, bench/README.md P9). Files listed by name are checked by one stat each, as any source.
 *
 * Each pattern gives exactly what Bazel's glob(patterns, exclude = excludes) gives (test/e2e/bazel-npm-globs.test.ts
 * compares the two on real trees): the files (regular files and symlinks to them, dangling symlinks left out) under
 * the directory tree, symlinked directories followed (a cycle is not entered twice), hidden files included; in a
 * pattern `**` is any number of path segments and `*` any run of characters within one.
 */
const fs = require("node:fs");

/** Latin-1 strings throughout: one char per byte of a name, as Bazel decodes paths and BUILD files. */
const L1 = "latin1";
const bytes = (/** @type {string} */ s) => Buffer.from(s, L1);

/** Every file under `dir` (a relative Latin-1 path). @param {string} dir @returns {string[]} */
function listFiles(dir) {
  /** @type {string[]} */
  const out = [];
  /** @type {(rel: string, chain: Set<string>) => void} */
  const walk = (rel, chain) => {
    let names;
    try {
      names = fs.readdirSync(bytes(rel), { encoding: L1 });
    } catch (e) {
      const code = /** @type {NodeJS.ErrnoException} */ (e).code;
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw e;
    }
    for (const name of names) {
      const p = `${rel}/${name}`;
      let st;
      try {
        st = fs.statSync(bytes(p)); // follows symlinks, as glob does
      } catch (e) {
        const code = /** @type {NodeJS.ErrnoException} */ (e).code;
        if (code === "ENOENT" || code === "ELOOP") continue; // dangling: glob leaves it out
        throw e;
      }
      if (st.isDirectory()) {
        const id = `${st.dev}:${st.ino}`;
        if (!chain.has(id)) walk(p, new Set(chain).add(id));
      } else out.push(p);
    }
  };
  const st = fs.statSync(bytes(dir), { throwIfNoEntry: false });
  if (st?.isDirectory()) walk(dir, new Set([`${st.dev}:${st.ino}`]));
  return out;
}

/**
 * One segment of a pattern (`*.d.ts`, `lib`) as a test of one path segment.
 * @param {string} seg @returns {(s: string) => boolean}
 */
function segmentTest(seg) {
  if (!seg.includes("*")) return (s) => s === seg;
  const re = new RegExp(
    `^${seg
      .split("*")
      .map((part) => part.replace(/[\\^$.+?()[\]{}|]/g, "\\$&"))
      .join("[^/]*")}$`,
    "s",
  );
  return (s) => re.test(s);
}

/**
 * A glob pattern as a test of a path's segments: `**` matches zero or more segments.
 * @param {string} pattern @returns {(file: string) => boolean}
 */
function patternTest(pattern) {
  const segs = pattern.split("/").map((s) => (s === "**" ? null : segmentTest(s)));
  /** @type {(i: number, path: string[], j: number) => boolean} */
  const match = (i, path, j) => {
    if (i === segs.length) return j === path.length;
    if (segs[i] === null) {
      for (let k = j; k <= path.length; k++) if (match(i + 1, path, k)) return true;
      return false;
    }
    return j < path.length && /** @type {(s: string) => boolean} */ (segs[i])(path[j]) && match(i + 1, path, j + 1);
  };
  return (file) => match(0, file.split("/"), 0);
}

/** The literal directory a pattern starts with (`node_modules/a` of `node_modules/a/**\/*.d.ts`). @param {string} pattern */
function literalDir(pattern) {
  const segs = pattern.split("/");
  const lit = [];
  for (const s of segs.slice(0, -1)) {
    if (s.includes("*")) break;
    lit.push(s);
  }
  return lit.join("/");
}

/** Index of the first entry of sorted `files` that is >= `key`. @param {string[]} files @param {string} key */
function lowerBound(files, key) {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (files[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The files of `files` (sorted) that `pattern` matches: only those under its literal directory are tested.
 * @param {string[]} files @param {string} pattern
 */
function matches(files, pattern) {
  const test = patternTest(pattern);
  const dir = literalDir(pattern);
  if (!dir) return files.filter(test);
  /** @type {string[]} */
  const out = [];
  const prefix = `${dir}/`;
  for (let i = lowerBound(files, prefix); i < files.length && files[i].startsWith(prefix); i++)
    if (test(files[i])) out.push(files[i]);
  return out;
}

/** A Starlark string literal of a Latin-1 string: quotes and backslashes escaped, control characters in octal. */
function starlarkString(/** @type {string} */ s) {
  return `"${s.replace(/[\\"]/g, "\\$&").replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`)}"`;
}

/** @param {string[]} argv @returns {number} the exit code */
function main(argv) {
  if (argv.length !== 2) {
    process.stderr.write("usage: npm_globs.js SPEC OUT\n");
    return 64;
  }
  /** @type {{ patterns: string[], excludes: string[] }} */
  const spec = JSON.parse(fs.readFileSync(argv[0], "utf8"));
  const patterns = [...new Set(spec.patterns)];
  const roots = [...new Set(patterns.map((p) => p.split("/")[0]))];
  const excluded = spec.excludes.map(patternTest);
  // Sorted by bytes (one char per byte): the order matches() searches, and the order glob() gives.
  const files = roots
    .flatMap((r) => listFiles(r))
    .filter((f) => !excluded.some((t) => t(f)))
    .sort();
  const lines = ["# Generated by rules_pipeline's npm_dependencies (bootstrap/npm_globs.js).", "GLOBS = {"];
  for (const p of patterns) {
    lines.push(`    ${starlarkString(p)}: [`);
    for (const f of matches(files, p)) lines.push(`        ${starlarkString(f)},`);
    lines.push("    ],");
  }
  lines.push("}", "");
  fs.writeFileSync(argv[1], lines.join("\n"), L1);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`npm_globs.js: ${/** @type {Error} */ (e).message}\n`);
    process.exitCode = 1;
  }
}
