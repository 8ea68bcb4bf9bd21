// @ts-check
"use strict";
/**
 * The file side of bazel/private/repositories/repo_cache.bzl (the repository-rule cache), run by the Node the rules use. No
 * dependencies: it runs before any npm package is installed.
 *
 *   node repo_cache.js key JSON                   prints the sha256 key of what JSON names ({kind, strings: [[name,
 *                                                 value]], files: [[name, path]], trees: [[name, path]]}) and of
 *                                                 this Node (versions, platform, arch, glibc)
 *   node repo_cache.js restore ENTRY DEST NAME...  hard-links (or copies) ENTRY's NAMEs into DEST (exit 0), or exit
 *                                                 2 when ENTRY is absent, 3 when it is there but not whole, or its
 *                                                 content is not what was stored (then it is removed: the rule builds
 *                                                 and stores it again; the reason on stderr)
 *   node repo_cache.js store ENTRY SRC NAME...     publishes SRC's NAMEs as ENTRY: hard-linked (or copied) into a
 *                                                 temporary sibling, its files made read-only and their digests
 *                                                 recorded (content.json), completion marker written last, renamed
 *                                                 into place; then, while
 *                                                 the entries of ENTRY's directory hold more than
 *                                                 $PIPELINE_REPO_CACHE_MAX_SIZE (default 10GiB; 0: no limit), removes
 *                                                 the least recently used of the others (a restore is a use)
 *
 * ENTRY is <cache dir>/<kind>-<64 hex>, nothing else: it is the only path written (besides its temporary sibling
 * and, on restore, DEST). An entry is whole when its marker, entry.json, names its kind and key; the files are under
 * ENTRY/tree/.
 *
 * A restore is the entry (hard links share the inode): a write through any restored repository would change what every
 * later fetch on the machine gets, surviving `bazel clean --expunge`. So the entry cannot be changed that way, and a
 * change is found: the store makes every file of the entry read-only (a hard link shares the mode, so the repository
 * it was stored from and every restored one are read-only too: a write fails with EACCES; root ignores modes, which
 * the check below catches) and records each file's mode and sha256 and each symlink's target in ENTRY/content.json;
 * a restore first checks the entry's tree against it (~0.4 s for the rules' 83 MB, 7,000-file npm tree here) and
 * discards an entry that differs (a file's bytes or mode, a file added or missing), naming the first difference.
 * The temporary names are src/process/temp.ts's (`.<name>.tmp-<pid>-<start>-<8 hex>`), so that
 * `pipeline cache prune` removes what a killed fetch left, and removes entries (src/cache/layout.ts: repos/).
 */
const { createHash, randomBytes } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

// 2: entries hold content.json and their files are read-only (entries of format 1 are never restored: another key).
const FORMAT = "rules_pipeline repo cache 2";
const DEFAULT_MAX_SIZE = "10GiB";
const ENTRY_NAME = /^[a-z]+-[0-9a-f]{64}$/;
const MARKER = "entry.json";
const CONTENT = "content.json";

/**
 * @typedef {{ kind: unknown, strings?: [string, unknown][], files?: [string, string][], trees?: [string, string][] }} KeySpec
 * What `key` hashes (the JSON of `repo_cache.js key JSON`, written by repo_cache.bzl).
 * @typedef {(rel: string, kind: string, bytes: Buffer | string) => void} Visit
 * What `walk` calls for each entry: "dir" (bytes ""), "file" or "xfile" (its bytes), "link" (its target).
 */

/** The cache key of what `spec` names and of this Node. @param {KeySpec} spec */
function key(spec) {
  const h = createHash("sha256");
  /** @type {Visit} */
  const add = (tag, name, bytes) => {
    h.update(`${tag} ${JSON.stringify(name)} ${bytes.length}\n`);
    h.update(bytes);
    h.update("\n");
  };
  /** @type {{ glibcVersionRuntime?: string }} */
  const header =
    /** @type {{ header?: { glibcVersionRuntime?: string } } | undefined} */ (process.report?.getReport?.())?.header ??
    {};
  add("format", "", FORMAT);
  add("kind", "", String(spec.kind));
  add(
    "node",
    "",
    JSON.stringify({
      versions: process.versions,
      platform: process.platform,
      arch: process.arch,
      glibc: header.glibcVersionRuntime ?? "",
    }),
  );
  for (const [name, value] of spec.strings ?? []) add("string", name, String(value));
  for (const [name, file] of spec.files ?? []) add("file", name, fs.readFileSync(file));
  for (const [name, dir] of spec.trees ?? []) walk(dir, "", (rel, kind, bytes) => add(kind, `${name}/${rel}`, bytes));
  return h.digest("hex");
}

/**
 * Every entry under `dir`, in a fixed order: directories, files (their executable bit in the tag) and symlinks.
 * @param {string} dir @param {string} rel @param {Visit} visit
 */
function walk(dir, rel, visit) {
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = path.join(dir, r);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      visit(r, "dir", "");
      walk(dir, r, visit);
    } else if (st.isFile()) visit(r, st.mode & 0o111 ? "xfile" : "file", fs.readFileSync(p));
    else if (st.isSymbolicLink()) visit(r, "link", fs.readlinkSync(p));
    else throw new Error(`${p}: neither a file, a directory nor a symlink`);
  }
}

/** The start time of this process (field 22 of /proc/self/stat), as src/process/owner.ts reads it; 0 elsewhere. */
function selfStart() {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return Number.isInteger(start) && start >= 0 ? start : 0;
  } catch {
    return 0;
  }
}

const tempSibling = (/** @type {string} */ entry) =>
  path.join(
    path.dirname(entry),
    `.${path.basename(entry)}.tmp-${process.pid}-${selfStart()}-${randomBytes(4).toString("hex")}`,
  );

function checkEntryPath(/** @type {string} */ entry) {
  if (!path.isAbsolute(entry) || !ENTRY_NAME.test(path.basename(entry)))
    throw new Error(`not a cache entry path: ${JSON.stringify(entry)}`);
}

/** "" when `entry` is whole, else why not. @param {string} entry */
function wholeness(entry) {
  const name = path.basename(entry);
  let marker;
  try {
    marker = JSON.parse(fs.readFileSync(path.join(entry, MARKER), "utf8"));
  } catch (e) {
    return `no readable ${MARKER} (${errorCode(e)})`;
  }
  if (marker?.format !== FORMAT || `${marker.kind}-${marker.key}` !== name) return `${MARKER} is not this entry's`;
  return "";
}

/** The code of a system error, else its message. @param {unknown} e */
const errorCode = (e) =>
  /** @type {NodeJS.ErrnoException} */ (e).code ?? /** @type {NodeJS.ErrnoException} */ (e).message;

/** @type {(list: string[]) => string[]} */
const names = (list) => {
  for (const n of list)
    if (!n || n.includes("/") || n === "." || n === "..") throw new Error(`not a plain name: ${JSON.stringify(n)}`);
  return list;
};

/**
 * What a tree holds, by relative path: "dir", "link TARGET", or "file MODE SHA256" (MODE: the permission bits, octal).
 * `seal`: each file's write bits are removed first (directories stay writable: a restore makes its own).
 */
function contentOf(/** @type {string} */ tree, seal = false) {
  /** @type {Record<string, string>} */
  const out = {};
  walk(tree, "", (rel, kind, bytes) => {
    if (kind === "dir") out[rel] = "dir";
    else if (kind === "link") out[rel] = `link ${bytes}`;
    else {
      const p = path.join(tree, rel);
      let mode = fs.lstatSync(p).mode & 0o7777;
      if (seal && mode & 0o222) fs.chmodSync(p, (mode &= ~0o222));
      out[rel] = `file ${mode.toString(8)} ${createHash("sha256").update(bytes).digest("hex")}`;
    }
  });
  return out;
}

/** "" when ENTRY/tree holds what the store recorded, else the first difference. @param {string} entry */
function changed(entry) {
  /** @type {Record<string, string>} */
  let recorded;
  try {
    recorded = JSON.parse(fs.readFileSync(path.join(entry, CONTENT), "utf8"));
  } catch (e) {
    return `no readable ${CONTENT} (${errorCode(e)})`;
  }
  const now = contentOf(path.join(entry, "tree"));
  for (const rel of Object.keys(recorded).sort()) {
    if (!(rel in now)) return `tree/${rel} is missing`;
    if (now[rel] !== recorded[rel] && onlyWriteBits(recorded[rel], now[rel])) {
      // A `chmod -R u+w` over an output base (to delete it) reaches the entry's files through their hard links; the
      // bytes are still the stored ones (their digest says so): sealed again, and served.
      fs.chmodSync(path.join(entry, "tree", rel), Number.parseInt(recorded[rel].split(" ")[1], 8));
      continue;
    }
    if (now[rel] !== recorded[rel]) {
      const [was, is] = [recorded[rel].split(" "), now[rel].split(" ")];
      const what =
        was[0] !== is[0]
          ? "its type"
          : was[0] === "file" && was[1] !== is[1]
            ? `its mode (${was[1]} -> ${is[1]})`
            : "its content";
      return `tree/${rel} changed (${what})`;
    }
  }
  for (const rel of Object.keys(now).sort()) if (!(rel in recorded)) return `tree/${rel} was added`;
  return "";
}

/**
 * Whether two contentOf() records of a file differ only in the file's write bits (same bytes, same other bits).
 * @param {string} recorded @param {string} now
 */
function onlyWriteBits(recorded, now) {
  const [was, is] = [recorded.split(" "), now.split(" ")];
  if (was[0] !== "file" || is[0] !== "file" || was[2] !== is[2]) return false;
  return (Number.parseInt(is[1], 8) & ~0o222) === Number.parseInt(was[1], 8);
}

/** Renames `entry` to a temporary sibling, then removes it: a restore running beside sees it whole or not at all. */
function discard(/** @type {string} */ entry) {
  const doomed = tempSibling(entry);
  try {
    fs.renameSync(entry, doomed);
  } catch {
    return; // another fetch removed it first
  }
  fs.rmSync(doomed, { recursive: true, force: true });
}

/** Hard-links `sources` (files, symlinks, whole trees) into the empty directory `dir`, or copies them where a link cannot be made. */
function copyTree(/** @type {string[]} */ sources, /** @type {string} */ dir) {
  try {
    execFileSync("cp", ["-al", ...sources, dir + "/"], { stdio: ["ignore", "ignore", "ignore"] });
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    execFileSync("cp", ["-a", ...sources, dir + "/"], { stdio: ["ignore", "ignore", "pipe"] });
  }
}

/** `restore ENTRY DEST NAME...` (the header): its exit code. @param {string} entry @param {string} dest @param {string[]} list */
function restore(entry, dest, list) {
  checkEntryPath(entry);
  if (!fs.existsSync(entry)) return 2;
  const why = wholeness(entry);
  if (why) {
    process.stderr.write(`ignored ${entry}: ${why}\n`);
    return 3;
  }
  const diff = changed(entry);
  if (diff) {
    // Written through a restored repository (as root, or after a chmod), or by hand: never served again.
    discard(entry);
    process.stderr.write(`discarded ${entry}: ${diff} since it was stored\n`);
    return 3;
  }
  // Its last use, for eviction (a store's, or `pipeline cache prune --max-size`): marked first, so that a store
  // running meanwhile sees an entry in use as the most recent. A cache we may read but not write still serves.
  const now = new Date();
  try {
    fs.utimesSync(entry, now, now);
  } catch {
    /* read-only */
  }
  // Copied beside, then renamed into place: a copy that fails half way leaves nothing in DEST but the work dir.
  const work = path.join(dest, `.repo_cache_restore-${process.pid}`);
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work);
  try {
    const sources = names(list).map((n) => path.join(entry, "tree", n));
    // Hard links, as Bazel's --experimental_repository_cache_hardlinks and pnpm's store do: a restore costs no bytes
    // and no copy (~0.2 s for the rules' 83 MB npm tree here). Where a link cannot be made (the entry on another
    // filesystem, or on a bind mount apart from DEST's), the files are copied. Either way DEST gets the entry's
    // bytes, modes (read-only files) and symlinks.
    copyTree(sources, work);
    for (const n of list) {
      fs.rmSync(path.join(dest, n), { recursive: true, force: true });
      fs.renameSync(path.join(work, n), path.join(dest, n));
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return 0;
}

/** Refuses a tree with symlinks that point out of it (absolute, or through ..): they would not mean the same elsewhere. */
function checkRelocatable(/** @type {string} */ src, /** @type {string[]} */ list) {
  for (const n of list) {
    const top = path.join(src, n);
    /** @type {Visit} */
    const check = (rel, kind, target) => {
      if (kind !== "link") return;
      const t = String(target);
      const resolved = path.resolve(path.dirname(path.join(top, rel)), t);
      if (path.isAbsolute(t) || !(resolved === src || resolved.startsWith(src + path.sep))) {
        throw new Error(
          `${path.join(n, rel)} is a symlink to ${JSON.stringify(t)}, outside the repository: not cached`,
        );
      }
    };
    if (fs.lstatSync(top).isDirectory()) walk(top, "", check);
    else
      check(
        "",
        fs.lstatSync(top).isSymbolicLink() ? "link" : "file",
        fs.lstatSync(top).isSymbolicLink() ? fs.readlinkSync(top) : "",
      );
  }
}

/** `store ENTRY SRC NAME...` (the header): its exit code. @param {string} entry @param {string} src @param {string[]} list */
function store(entry, src, list) {
  checkEntryPath(entry);
  if (fs.existsSync(entry) && !wholeness(entry)) return 0; // another fetch was first
  checkRelocatable(src, names(list));
  fs.mkdirSync(path.dirname(entry), { recursive: true });
  const temp = tempSibling(entry);
  try {
    fs.mkdirSync(path.join(temp, "tree"), { recursive: true });
    // Hard links, as a restore makes: the store is the fetch's last step, so the repository's files are final and
    // no build action writes them; a store costs no copy (~83 MB for the rules' npm tree) and no second copy on
    // disk. Copied where a link cannot be made (another filesystem or mount). Then read-only (the repository's
    // files too, when linked) and recorded.
    copyTree(
      list.map((n) => path.join(src, n)),
      path.join(temp, "tree"),
    );
    fs.writeFileSync(path.join(temp, CONTENT), `${JSON.stringify(contentOf(path.join(temp, "tree"), true))}\n`);
    const [kind, k] = path.basename(entry).split("-");
    const bytes = treeBytes(path.join(temp, "tree"));
    fs.writeFileSync(
      path.join(temp, MARKER),
      `${JSON.stringify({ format: FORMAT, kind, key: k, names: list, bytes })}\n`,
    );
    try {
      fs.renameSync(temp, entry);
    } catch (e) {
      const code = /** @type {NodeJS.ErrnoException} */ (e).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      if (!wholeness(entry)) return 0; // published meanwhile
      // A half entry (no marker: written by hand, or by an older version): set aside, removed, replaced.
      const doomed = tempSibling(entry);
      fs.renameSync(entry, doomed);
      fs.rmSync(doomed, { recursive: true, force: true });
      fs.renameSync(temp, entry);
    }
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
  return 0;
}

/**
 * Bytes of a size like `20GiB`: src/units.ts's parseSize (decimal prefixes powers of 1000, binary ones and a bare
 * letter of 1024, bare bytes), which this file cannot import; test/unit/repo-cache.test.ts checks they agree.
 */
function parseSize(/** @type {string} */ s, /** @type {string} */ name) {
  /** @type {Record<string, number>} */
  const units = { "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  for (const u of ["k", "m", "g", "t"]) units[`${u}ib`] = units[u];
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? units[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new Error(`${name}: expected a size like 500MB, 20GiB or 1048576 (bytes), got ${JSON.stringify(s)}`);
  return Math.floor(Number(m[1]) * unit);
}

/** Apparent size of what a directory holds (files' sizes, symlinks' target lengths), as `pipeline cache du` counts. */
function treeBytes(/** @type {string} */ dir) {
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    bytes += st.isDirectory() ? treeBytes(p) : st.size;
  }
  return bytes;
}

/**
 * An entry's size: from its marker when the store wrote it there, else counted; null when the entry went while it was
 * read (another output base's store evicted it: eviction renames an entry away, then removes it).
 */
function entryBytes(/** @type {string} */ entry) {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(entry, MARKER), "utf8"));
    if (Number.isSafeInteger(marker?.bytes) && marker.bytes >= 0) return marker.bytes;
  } catch {
    /* counted below */
  }
  try {
    return treeBytes(entry);
  } catch (e) {
    if (/** @type {NodeJS.ErrnoException} */ (e).code === "ENOENT" && !fs.existsSync(entry)) return null;
    throw e;
  }
}

/**
 * Removes the least recently used entries beside `kept` (never `kept` itself) until the entries hold at most `max`
 * bytes. Only `<kind>-<64 hex>` directories count; temporary siblings are `pipeline cache prune`'s. An entry goes by
 * a rename to a temporary sibling first, so a restore reading it either copies it whole or fails (and builds).
 */
function evict(/** @type {string} */ kept, /** @type {number} */ max) {
  if (max <= 0) return;
  const dir = path.dirname(kept);
  /** @type {{ p: string, used: number, bytes: number }[]} */
  const others = [];
  // `kept` may be gone already: a store running beside this one, with a smaller bound, evicted it. Then there is
  // nothing of ours to keep, and the others are still brought under this store's bound.
  let total = entryBytes(kept) ?? 0;
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (!ENTRY_NAME.test(name) || p === kept) continue;
    let used;
    try {
      used = fs.statSync(p).mtimeMs;
    } catch {
      continue; // removed meanwhile
    }
    const bytes = entryBytes(p);
    if (bytes === null) continue; // removed meanwhile
    others.push({ p, used, bytes });
    total += bytes;
  }
  others.sort((a, b) => a.used - b.used || (a.p < b.p ? -1 : 1));
  for (const o of others) {
    if (total <= max) break;
    const doomed = tempSibling(o.p);
    try {
      fs.renameSync(o.p, doomed);
    } catch {
      continue; // another fetch removed it
    }
    fs.rmSync(doomed, { recursive: true, force: true });
    total -= o.bytes;
  }
}

/** @param {string[]} argv @returns {number} the exit code */
function main(argv) {
  const [command, ...rest] = argv;
  try {
    if (command === "key" && rest.length === 1) {
      process.stdout.write(`${key(JSON.parse(rest[0]))}\n`);
      return 0;
    }
    if (command === "restore" && rest.length >= 3) return restore(rest[0], rest[1], rest.slice(2));
    if (command === "store" && rest.length >= 3) {
      const name = "PIPELINE_REPO_CACHE_MAX_SIZE";
      const max = parseSize(process.env[name] || DEFAULT_MAX_SIZE, name);
      const code = store(rest[0], rest[1], rest.slice(2));
      try {
        evict(rest[0], max);
      } catch (e) {
        // The entry is published: say so, rather than the rule's "not stored".
        const message = /** @type {Error} */ (e).message;
        process.stderr.write(`stored; removing older entries to keep under ${name} failed: ${message}\n`);
        return 4;
      }
      return code;
    }
    process.stderr.write("usage: repo_cache.js key JSON | restore ENTRY DEST NAME... | store ENTRY SRC NAME...\n");
    return 64;
  } catch (e) {
    // An Error, and from execFileSync one with what cp said (`stderr`).
    const { stderr, message } = /** @type {Error & { stderr?: Buffer }} */ (e);
    process.stderr.write(`${stderr ? String(stderr).trim() || message : message}\n`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
module.exports = { parseSize }; // for test/unit/repo-cache.test.ts
