/**
 * Loads the commands of the `pipeline` bundle (its second file, src/cli/lazy-bundle.ts) with a V8 code cache (issue
 * #23), when the npm package's `pipeline` command (tools/pipeline-loader.ts) or a launcher (tools/bundle-loader.ts)
 * runs a command. Compiling the 1.2 MB file was most of a command's start-up (a no-op push: ~28 ms of ~50 ms over
 * `node -e 0`, bench/README.md); with V8's code cache of an earlier run, the compile is a deserialization.
 * Node 22's `module.enableCompileCache()` does this for every module; Node 20 has no such thing.
 *
 *   - The cache file: <cache root>/code-cache/pipeline-<bundle digest, 16 hex>-node<version>-<arch>.v8 (the cache
 *     root of src/cache/layout.ts: $PIPELINE_CACHE_DIR, $XDG_CACHE_HOME/rules_pipeline, ~/.cache/rules_pipeline).
 *     Its header holds the bundle's whole sha256 and the sha256 of the V8 data: V8 itself checks only the source's
 *     length, its own version and flags, and accepts a damaged payload (tried: Node 20.20 ran with bytes flipped),
 *     so a file that is not for these exact bytes, truncated or damaged is never handed to V8.
 *   - Written after the command ran (at exit, so the functions the command compiled are in it) when there was no
 *     usable one: missing, unreadable, for another bundle, damaged, or rejected by V8 (another Node or other V8
 *     flags). Atomically: a temporary name (src/process/temp.ts), then a rename; stale temporary files of killed
 *     writers are removed first. At most CODE_CACHE_KEEP files stay in code-cache/ (the least recently used
 *     beyond go: a hit renews its file's mtime, at most once an hour), each at most MAX_CACHE_BYTES to be read.
 *   - Never required: a cache root that cannot be created or written (a read-only HOME, a sandbox) only means no
 *     cache; nothing is printed but with `-v`/`--debug` (one `debug: code cache: ...` line on a hit or miss, one
 *     when written). `PIPELINE_CODE_CACHE=off` loads the bundle without reading or writing a cache.
 *   - The same semantics as `require(file)`: the file runs in CommonJS's module wrapper with its own `require`
 *     (resolving from its directory), `module`, `__filename` and `__dirname`; line numbers are unchanged.
 *     The file must not contain `import()` (bootstrap/esbuild_bundle.js turns dynamic imports into
 *     `require()`): a vm.Script would need an experimental loader for them.
 * `pipeline cache du` counts the files (kind `code-cache`), `pipeline cache prune` removes them by age or size.
 */
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Script } from "node:vm";
import { CODE_CACHE_ENTRY, CODE_CACHE_KEEP, cacheRoot, codeCacheDir } from "../cache/layout";
import { sha256 } from "../oci/digest";
import { onExit } from "../process/exit";
import { takeDebug } from "./debug-flag";

const MAGIC = "rp-v8cc1";
/** MAGIC, the bundle's sha256 (hex), the V8 data's sha256 (hex); then the V8 data (offset 136: 8-byte aligned). */
const HEADER_BYTES = MAGIC.length + 64 + 64;
/** A larger file is not read (the bundle's cache is ~0.4 MB). */
export const MAX_CACHE_BYTES = 64 << 20;
/** How stale a hit's mtime may be before the hit renews it (markUsed): one syscall an hour, not one a run. */
const USE_STAMP_MS = 60 * 60 * 1000;

/** The name of the bundle's cache file for this Node (`digestHex`: the bundle's sha256, 64 hex). */
export function codeCacheFileName(digestHex: string, nodeVersion = process.versions.node, arch = process.arch): string {
  return `pipeline-${digestHex.slice(0, 16)}-node${nodeVersion}-${arch}.v8`;
}

const hex = (data: Buffer) => sha256(data).slice("sha256:".length);

/** A cache file's bytes: the header for the bundle whose sha256 is `bundleHex`, then V8's data. */
export function encodeCodeCache(bundleHex: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(MAGIC + bundleHex + hex(data), "latin1"), data]);
}

/** V8's data from a cache file's bytes, or why they are not usable for the bundle whose sha256 is `bundleHex`. */
export function decodeCodeCache(file: Buffer, bundleHex: string): { data: Buffer } | { problem: string } {
  if (file.length <= HEADER_BYTES || file.toString("latin1", 0, MAGIC.length) !== MAGIC)
    return { problem: "not a code cache file" };
  if (file.toString("latin1", MAGIC.length, MAGIC.length + 64) !== bundleHex)
    return { problem: "made for another bundle" };
  const data = file.subarray(HEADER_BYTES);
  if (file.toString("latin1", MAGIC.length + 64, HEADER_BYTES) !== hex(data))
    return { problem: "damaged (checksum mismatch)" };
  return { data };
}

function readCodeCache(path: string, bundleHex: string): { data: Buffer; mtimeMs: number } | { problem: string } {
  try {
    const { size, mtimeMs } = statSync(path);
    if (size > MAX_CACHE_BYTES) return { problem: `larger than ${MAX_CACHE_BYTES} bytes` };
    const r = decodeCodeCache(readFileSync(path), bundleHex);
    return "data" in r ? { data: r.data, mtimeMs } : r;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === "ENOENT" ? "none yet" : `unreadable (${code ?? String(e)})` };
  }
}

/** Writes the cache file atomically and keeps at most CODE_CACHE_KEEP of them; returns an error message or undefined. */
function writeCodeCache(path: string, bytes: Buffer): string | undefined {
  // Loaded only when writing: a hit never pays for them.
  const { listTemps, tempPath } = require("../process/temp") as typeof import("../process/temp");
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
    // What a writer killed half way left (every writer of the cache sweeps the directory it writes into).
    for (const t of listTemps(dir)) if (t.stale) unlinkSync(t.path);
    const tmp = tempPath(path);
    try {
      writeFileSync(tmp, bytes, { mode: 0o644 });
      renameSync(tmp, path);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
      throw e;
    }
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
  keepNewest(dir);
  return undefined;
}

/**
 * A hit's file gets the current time as its mtime, at most once per USE_STAMP_MS: the mtime is the file's last use,
 * which `pipeline cache prune --older-than` (src/cache/prune.ts) and keepNewest go by, so a file in use is not the
 * one they remove. A cache root that cannot be written only leaves the time as it was.
 */
function markUsed(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // read-only: prune may take it, and the next run writes it again
  }
}

/** Removes the cache files of `dir` beyond the CODE_CACHE_KEEP most recently used (by mtime: written or markUsed). */
function keepNewest(dir: string): void {
  const files: { path: string; mtime: number }[] = [];
  try {
    for (const n of readdirSync(dir))
      if (CODE_CACHE_ENTRY.test(n)) files.push({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs });
  } catch {
    return; // one removed meanwhile: the next writer trims
  }
  for (const f of files.sort((a, b) => b.mtime - a.mtime).slice(CODE_CACHE_KEEP)) {
    try {
      unlinkSync(f.path);
    } catch {
      // another writer was first
    }
  }
}

/** CommonJS's module wrapper (Node's Module.wrap), on the first line so that line numbers stay the bundle's. */
const wrap = (source: string) => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;

/**
 * Loads the CommonJS file `bundle` as `require(bundle)` would, with the code cache (see above), and returns its
 * `module.exports`. `argv` is the command line's arguments (`-v` turns the debug lines on).
 */
export function loadBundle(
  bundle: string,
  env: NodeJS.ProcessEnv = process.env,
  argv: string[] = process.argv.slice(2),
): unknown {
  const debug = takeDebug(argv).debug
    ? (line: string) => process.stderr.write(`debug: code cache: ${line}\n`)
    : undefined;
  const bytes = readFileSync(bundle);
  // A shebang line is not JavaScript inside the wrapper: a comment keeps the line.
  const text = bytes.toString("utf8");
  const source = text.startsWith("#!") ? `//${text.slice(2)}` : text;
  const off = env.PIPELINE_CODE_CACHE === "off";
  let file: string | undefined;
  let bundleHex = "";
  let cachedData: Buffer | undefined;
  let lastUse: number | undefined;
  if (off) debug?.("off (PIPELINE_CODE_CACHE=off)");
  else {
    bundleHex = hex(bytes);
    file = join(codeCacheDir(cacheRoot(env)), codeCacheFileName(bundleHex));
    const r = readCodeCache(file, bundleHex);
    if ("data" in r) {
      cachedData = r.data;
      lastUse = r.mtimeMs;
    } else debug?.(`miss ${file}: ${r.problem}`);
  }
  const script = new Script(wrap(source), { filename: bundle, cachedData });
  if (cachedData)
    debug?.(
      script.cachedDataRejected ? `miss ${file}: rejected by V8 (another Node or other V8 flags)` : `hit ${file}`,
    );
  if (file && lastUse !== undefined && !script.cachedDataRejected && Date.now() - lastUse > USE_STAMP_MS)
    markUsed(file);
  if (file && (!cachedData || script.cachedDataRejected)) {
    const path = file;
    // After the command ran: the functions it compiled are in the cache too.
    onExit(() => {
      const error = writeCodeCache(path, encodeCodeCache(bundleHex, script.createCachedData()));
      debug?.(error ? `not written (${error}): ${path}` : `written ${path}`);
    });
  }
  const fn: unknown = script.runInThisContext();
  if (typeof fn !== "function") throw new Error(`${bundle}: the module wrapper did not compile to a function`);
  const m = new Module(bundle, module);
  m.filename = bundle;
  Reflect.apply(fn, m.exports, [m.exports, createRequire(bundle), m, bundle, dirname(bundle)]);
  m.loaded = true;
  return m.exports;
}
