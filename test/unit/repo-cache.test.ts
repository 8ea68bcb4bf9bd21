/**
 * bootstrap/repo_cache.js, the file side of the repository cache (issue #23 item 3), run as the repository rules
 * run it (node, argv), on real directories:
 * - the key is the bytes, the executable bits, the symlinks and the names of what it is given, not where they are;
 * - store then restore gives back the same tree (both hard-link on one filesystem, copy across two); an entry is whole only with its completion marker (else exit 3,
 *   nothing copied); two stores of one key leave one entry and no temporary directory; a store killed half way
 *   leaves only a temporary sibling named as src/process/temp.ts names them, which `pipeline cache prune` removes
 *   (it also counts and removes whole entries: kind "repos");
 * - nothing but `<dir>/<kind>-<64 hex>` is accepted as an entry path, and a tree with a symlink out of it is not stored.
 * The Bazel side (keys of the real rules, a hit in a new output base) is test/e2e/bazel-repo-cache.test.ts's.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { pruneCache } from "../../src/cache/prune";
import { cacheUsage } from "../../src/cache/usage";
import { parseTempName } from "../../src/process/temp";
import { parseSize } from "../../src/units";
import { readableCopy } from "../fixtures/shared-tmp";

const HELPER = join(__dirname, "..", "..", "bootstrap", "repo_cache.js");
const tmp = mkdtempSync(join(tmpdir(), "rp-repo-cache-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]): { code: number; out: string; err: string } {
  return runWith({}, ...args);
}

function runWith(env: NodeJS.ProcessEnv, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [HELPER, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** A repository-like directory: a BUILD file, a package with an executable and a relative symlink. */
function plant(dir: string, text = "x"): string {
  mkdirSync(join(dir, "node_modules/a/bin"), { recursive: true });
  writeFileSync(join(dir, "BUILD.bazel"), "# generated\n");
  writeFileSync(join(dir, "node_modules/a/index.js"), text);
  writeFileSync(join(dir, "node_modules/a/bin/cli"), "#!/bin/sh\n");
  chmodSync(join(dir, "node_modules/a/bin/cli"), 0o755);
  mkdirSync(join(dir, "node_modules/.bin"));
  symlinkSync("../a/bin/cli", join(dir, "node_modules/.bin/a"));
  return dir;
}

const keyOf = (dir: string, extra: Record<string, unknown> = {}) => {
  const r = run(
    "key",
    JSON.stringify({
      kind: "npm",
      strings: [["name", "npm"]],
      files: [["BUILD", join(dir, "BUILD.bazel")]],
      trees: [["nm", join(dir, "node_modules")]],
      ...extra,
    }),
  );
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(/^[0-9a-f]{64}$/);
  return r.out;
};

describe("repo_cache.js", () => {
  test("the key: what the inputs hold, not where they are", () => {
    const k = keyOf(plant(join(tmp, "k1")));
    expect(keyOf(plant(join(tmp, "k2")))).toBe(k);
    expect(keyOf(plant(join(tmp, "k3"), "y"))).not.toBe(k); // one byte
    expect(keyOf(join(tmp, "k1"), { kind: "tools" })).not.toBe(k);
    expect(keyOf(join(tmp, "k1"), { strings: [["name", "npm2"]] })).not.toBe(k);
    chmodSync(join(tmp, "k2/node_modules/a/bin/cli"), 0o644);
    expect(keyOf(join(tmp, "k2"))).not.toBe(k); // the executable bit
    rmSync(join(tmp, "k2/node_modules/.bin/a"));
    symlinkSync("../a/index.js", join(tmp, "k2/node_modules/.bin/a"));
    chmodSync(join(tmp, "k2/node_modules/a/bin/cli"), 0o755);
    expect(keyOf(join(tmp, "k2"))).not.toBe(k); // a symlink's target
    const missing = run("key", JSON.stringify({ kind: "npm", files: [["x", join(tmp, "nope")]] }));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("ENOENT");
  });

  test("a store keeps the directory under PIPELINE_REPO_CACHE_MAX_SIZE by removing the least recently used entries", () => {
    const cache = join(tmp, "lru");
    const name = (c: string) => `npm-${c.repeat(64)}`;
    const entry = (c: string) => join(cache, name(c));
    const entries = () => readdirSync(cache).filter((n) => n.startsWith("npm-"));
    /** A repository of about `kb` KiB (one file). */
    const repo = (name: string, kb: number) => {
      const dir = join(tmp, `lru-src-${name}`);
      mkdirSync(join(dir, "node_modules"), { recursive: true });
      writeFileSync(join(dir, "node_modules", "f"), "z".repeat(kb * 1024));
      return dir;
    };
    const limit = { PIPELINE_REPO_CACHE_MAX_SIZE: "250KiB" };
    expect(runWith(limit, "store", entry("a"), repo("a", 100), "node_modules").code).toBe(0);
    expect(runWith(limit, "store", entry("b"), repo("b", 100), "node_modules").code).toBe(0);
    // a older than b by its time; then restored, it is the more recently used.
    utimesSync(entry("a"), new Date(1_000_000), new Date(1_000_000));
    utimesSync(entry("b"), new Date(2_000_000), new Date(2_000_000));
    const dest = join(tmp, "lru-dest");
    mkdirSync(dest);
    expect(run("restore", entry("a"), dest, "node_modules").code).toBe(0);
    writeFileSync(join(cache, ".npm-x.tmp-1-1-00000000"), ""); // not an entry: left to `pipeline cache prune`
    expect(runWith(limit, "store", entry("c"), repo("c", 100), "node_modules").code).toBe(0);
    expect(readdirSync(cache).sort()).toEqual([".npm-x.tmp-1-1-00000000", name("a"), name("c")]);
    // The entry just stored stays even when it alone is over the limit; 0 means no limit.
    expect(
      runWith({ PIPELINE_REPO_CACHE_MAX_SIZE: "50KiB" }, "store", entry("d"), repo("d", 100), "node_modules").code,
    ).toBe(0);
    expect(entries()).toEqual([name("d")]);
    expect(
      runWith({ PIPELINE_REPO_CACHE_MAX_SIZE: "0" }, "store", entry("e"), repo("e", 100), "node_modules").code,
    ).toBe(0);
    expect(entries()).toEqual([name("d"), name("e")]);
    // An entry whose marker has no size (an earlier version's) is counted.
    const marker = join(entry("d"), "entry.json");
    const { bytes, ...old } = JSON.parse(readFileSync(marker, "utf8"));
    expect(bytes).toBe(100 * 1024);
    writeFileSync(marker, JSON.stringify(old));
    utimesSync(entry("d"), new Date(1_000_000), new Date(1_000_000));
    expect(
      runWith({ PIPELINE_REPO_CACHE_MAX_SIZE: "150KiB" }, "store", entry("f"), repo("f", 10), "node_modules").code,
    ).toBe(0);
    expect(entries()).toEqual([name("e"), name("f")]);
  });

  test("stores running at once (several output bases) evict each other's entries: each still says stored", async () => {
    // Each bound fits one entry, so every store removes the others, and one store's entry may go before its own
    // eviction has read its size (it once failed then with ENOENT, and the rule printed "not stored").
    const cache = join(tmp, "race");
    const limit = { ...process.env, PIPELINE_REPO_CACHE_MAX_SIZE: "150KiB" };
    const src = join(tmp, "race-src");
    mkdirSync(join(src, "node_modules"), { recursive: true });
    writeFileSync(join(src, "node_modules", "f"), "r".repeat(100 * 1024));
    const store = (i: number) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [HELPER, "store", join(cache, `npm-${i.toString(16).padStart(64, "0")}`), src, "node_modules"],
          {
            env: limit,
            stdio: ["ignore", "ignore", "pipe"],
          },
        );
        let err = "";
        child.stderr.on("data", (d) => {
          err += d;
        });
        child.on("close", (code) => resolve({ code, err }));
      });
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store(round * 8 + i)));
      expect(results, `round ${round}`).toEqual(results.map(() => ({ code: 0, err: "" })));
    }
    // Nothing half-written is left, and the next store alone brings the directory under its bound.
    expect(readdirSync(cache).filter((n) => !/^npm-[0-9a-f]{64}$/.test(n))).toEqual([]);
    expect(await store(999)).toEqual({ code: 0, err: "" });
    expect(readdirSync(cache)).toEqual([`npm-${(999).toString(16).padStart(64, "0")}`]);
  });

  test("an entry beside it that cannot be measured: the store is kept, and the message says stored (exit 4)", () => {
    const cache = join(tmp, "unmeasured");
    // Another entry (no marker, so counted) nested deeper than PATH_MAX: counting it fails with ENAMETOOLONG.
    const deep = join(cache, `npm-${"1".repeat(64)}`);
    mkdirSync(deep, { recursive: true });
    const nest = spawnSync("bash", [
      "-c",
      `cd "$1" && for i in $(seq 30); do mkdir ${"d".repeat(200)} && cd ${"d".repeat(200)} || exit 1; done`,
      "bash",
      deep,
    ]);
    expect(nest.status).toBe(0);
    try {
      const entry = join(cache, `npm-${"2".repeat(64)}`);
      const r = runWith(
        { PIPELINE_REPO_CACHE_MAX_SIZE: "1KiB" },
        "store",
        entry,
        plant(join(tmp, "unmeasured-src")),
        "node_modules",
      );
      expect(r.code).toBe(4);
      expect(r.err).toMatch(
        /^stored; removing older entries to keep under PIPELINE_REPO_CACHE_MAX_SIZE failed: ENAMETOOLONG/,
      );
      expect(run("restore", entry, mkdtempSync(join(tmp, "unmeasured-dest-")), "node_modules").code).toBe(0);
    } finally {
      spawnSync("rm", ["-rf", cache]); // GNU rm walks a tree deeper than PATH_MAX; fs.rmSync would not
    }
  });

  test("a cache that may be read but not written still serves restores (the last use is not recorded)", () => {
    const cache = join(tmp, "ro");
    const entry = join(cache, `npm-${"a".repeat(64)}`);
    expect(run("store", entry, plant(join(tmp, "ro-src")), "node_modules").code).toBe(0);
    const dest = join(tmp, "ro-dest");
    mkdirSync(dest);
    // A read-only bind mount of the cache in a mount namespace of its own (root may write anything else).
    const script = `mount --bind ${cache} ${cache} && mount -o remount,bind,ro ${cache} && exec "$@"`;
    const r = spawnSync(
      "unshare",
      ["-m", "sh", "-c", script, "sh", process.execPath, HELPER, "restore", entry, dest, "node_modules"],
      {
        encoding: "utf8",
      },
    );
    expect({ code: r.status, err: r.stderr.trim() }).toEqual({ code: 0, err: "" });
    expect(readFileSync(join(dest, "node_modules/a/index.js"), "utf8")).toBe("x");
  });

  test("a bad PIPELINE_REPO_CACHE_MAX_SIZE stores nothing and says which variable and value (the rule warns and builds)", () => {
    const cache = join(tmp, "bad-max");
    const r = runWith(
      { PIPELINE_REPO_CACHE_MAX_SIZE: "lots" },
      "store",
      join(cache, `npm-${"a".repeat(64)}`),
      plant(join(tmp, "bad-max-src")),
      "node_modules",
    );
    expect(r).toEqual({
      code: 1,
      out: "",
      err: 'PIPELINE_REPO_CACHE_MAX_SIZE: expected a size like 500MB, 20GiB or 1048576 (bytes), got "lots"',
    });
    expect(existsSync(cache)).toBe(false);
  });

  test("its size grammar is src/units.ts's", () => {
    const helper = require(HELPER) as { parseSize: (s: string, name: string) => number };
    /** The bytes, or the error's message. */
    const outcome = (parse: (s: string, name: string) => number, s: string): number | string => {
      try {
        return parse(s, "X");
      } catch (e) {
        return (e as Error).message;
      }
    };
    for (const s of [
      "0",
      "1048576",
      "500MB",
      "20GiB",
      "1.5G",
      "10gib",
      " 3 k ",
      "2TB",
      "7b",
      "1.25MiB",
      "lots",
      "",
      "5 GiBs",
      "-1",
      "1e6",
    ]) {
      expect(outcome(helper.parseSize, s), s).toEqual(outcome(parseSize, s));
    }
  });

  test("store, then restore into another directory: the same tree; a missing entry is a miss (exit 2)", () => {
    const cache = join(tmp, "c1");
    const entry = join(cache, `npm-${"a".repeat(64)}`);
    const src = plant(join(tmp, "s1"));
    expect(run("restore", entry, join(tmp, "s1"), "node_modules").code).toBe(2);
    expect(run("store", entry, src, "node_modules", "BUILD.bazel")).toEqual({ code: 0, out: "", err: "" });
    expect(readdirSync(cache)).toEqual([`npm-${"a".repeat(64)}`]);
    expect(readdirSync(entry).sort()).toEqual(["content.json", "entry.json", "tree"]);
    const dest = join(tmp, "d1");
    mkdirSync(dest);
    writeFileSync(join(dest, "package-lock.json"), "{}"); // what the rule wrote first stays
    expect(run("restore", entry, dest, "node_modules", "BUILD.bazel")).toEqual({ code: 0, out: "", err: "" });
    expect(readdirSync(dest).sort()).toEqual(["BUILD.bazel", "node_modules", "package-lock.json"]);
    expect(keyOf(dest)).toBe(keyOf(src));
    expect(readlinkSync(join(dest, "node_modules/.bin/a"))).toBe("../a/bin/cli");
    // A second store of the same key: the entry stays as it was, nothing else appears.
    expect(run("store", entry, plant(join(tmp, "s1b"), "other"), "node_modules", "BUILD.bazel").code).toBe(0);
    expect(readdirSync(cache)).toEqual([`npm-${"a".repeat(64)}`]);
    expect(readFileSync(join(entry, "tree/node_modules/a/index.js"), "utf8")).toBe("x");
  });

  test("a store and a restore hard-link the files on one filesystem, and copy them across two (tmpfs): the same tree", () => {
    const src = plant(join(tmp, "link-src"));
    const ino = (p: string) => statSync(p).ino;
    for (const where of ["same filesystem", "another filesystem"] as const) {
      // Made inside the try, so that a failed first case cannot leave the tmpfs directory behind.
      let cacheDir = "";
      try {
        cacheDir = where === "same filesystem" ? join(tmp, "link-cache") : mkdtempSync("/dev/shm/rp-repo-cache-");
        const entry = join(cacheDir, `npm-${"b".repeat(64)}`);
        expect(run("store", entry, src, "node_modules", "BUILD.bazel").code, where).toBe(0);
        const sameFs = where === "same filesystem" && statSync(tmp).dev === statSync(cacheDir).dev;
        expect(
          ino(join(entry, "tree/node_modules/a/bin/cli")) === ino(join(src, "node_modules/a/bin/cli")),
          `${where}: stored`,
        ).toBe(sameFs);
        const dest = mkdtempSync(join(tmp, "link-dest-"));
        expect(run("restore", entry, dest, "node_modules", "BUILD.bazel"), where).toEqual({
          code: 0,
          out: "",
          err: "",
        });
        expect(keyOf(dest), where).toBe(keyOf(src));
        expect(
          readdirSync(dest).filter((n) => n.startsWith(".")),
          where,
        ).toEqual([]); // no work directory left
        const linked = ino(join(dest, "node_modules/a/bin/cli")) === ino(join(entry, "tree/node_modules/a/bin/cli"));
        expect(linked, where).toBe(sameFs);
        expect(statSync(join(dest, "node_modules/a/bin/cli")).mode & 0o777, where).toBe(0o555); // read-only, as stored
      } finally {
        if (cacheDir.startsWith("/dev/shm/")) rmSync(cacheDir, { recursive: true, force: true });
      }
    }
  });

  test("an entry is read-only through a restore, and one changed after its store is discarded and fetched again", () => {
    const cache = join(tmp, "tamper");
    const entry = join(cache, `npm-${"d".repeat(64)}`);
    const clean = plant(join(tmp, "tamper-clean"));
    const stored = plant(join(tmp, "tamper-src"));
    expect(run("store", entry, stored, "node_modules", "BUILD.bazel")).toEqual({ code: 0, out: "", err: "" });
    // Every file of the entry, of the repository it was stored from and of a restored one is read-only.
    const a = mkdtempSync(join(tmp, "tamper-a-"));
    expect(run("restore", entry, a, "node_modules", "BUILD.bazel").code).toBe(0);
    for (const f of ["node_modules/a/index.js", "BUILD.bazel"]) {
      for (const p of [join(entry, "tree", f), join(stored, f), join(a, f)])
        expect(statSync(p).mode & 0o222, p).toBe(0);
    }
    // So a write through a restored repository fails for its owner (a user's Bazel: here `nobody` stores, restores
    // and writes), and the entry keeps its bytes.
    const home = join(tmp, "tamper-nobody");
    mkdirSync(home);
    chmodSync(tmp, 0o711);
    plant(join(home, "src"));
    spawnSync("chown", ["-R", "65534:65534", home]);
    const asNobody = (script: string) =>
      spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", script], {
        encoding: "utf8",
      });
    const nobodyEntry = join(home, "cache", `npm-${"d".repeat(64)}`);
    const helper = `${process.execPath} ${readableCopy(HELPER, home)}`;
    const setUp = asNobody(
      `mkdir ${home}/a && ${helper} store ${nobodyEntry} ${home}/src node_modules && ${helper} restore ${nobodyEntry} ${home}/a node_modules`,
    );
    expect(setUp.status, setUp.stderr).toBe(0);
    const write = asNobody(`echo tampered > ${home}/a/node_modules/a/index.js`);
    expect(write.stderr).toContain("Permission denied");
    expect(readFileSync(join(nobodyEntry, "tree/node_modules/a/index.js"), "utf8")).toBe("x");
    // Root writes through the hard link all the same (a genrule, a debugging edit): the entry's file changes with it.
    writeFileSync(join(a, "node_modules/a/index.js"), "tampered");
    expect(readFileSync(join(entry, "tree/node_modules/a/index.js"), "utf8")).toBe("tampered");
    // The next fetch finds the change, discards the entry (the rule then builds and stores it again) and says so.
    const b = mkdtempSync(join(tmp, "tamper-b-"));
    expect(run("restore", entry, b, "node_modules", "BUILD.bazel")).toEqual({
      code: 3,
      out: "",
      err: `discarded ${entry}: tree/node_modules/a/index.js changed (its content) since it was stored`,
    });
    expect(readdirSync(b)).toEqual([]);
    expect(existsSync(entry)).toBe(false);
    expect(readdirSync(cache)).toEqual([]);
    expect(run("store", entry, plant(join(tmp, "tamper-refetch")), "node_modules", "BUILD.bazel").code).toBe(0);
    expect(run("restore", entry, b, "node_modules", "BUILD.bazel").code).toBe(0);
    expect(keyOf(b)).toBe(keyOf(clean)); // what a clean fetch gives
    expect(readFileSync(join(b, "node_modules/a/index.js"), "utf8")).toBe("x");
    // Made writable again with its bytes unchanged (`chmod -R u+w` over an output base, to delete it, reaches the
    // entry through the hard links): sealed again and served, not refetched.
    expect(run("store", entry, plant(join(tmp, "tamper-writable")), "node_modules", "BUILD.bazel").code).toBe(0);
    spawnSync("chmod", ["-R", "u+w", join(entry, "tree")]);
    expect(statSync(join(entry, "tree/node_modules/a/bin/cli")).mode & 0o777).toBe(0o755);
    const sealed = mkdtempSync(join(tmp, "tamper-sealed-"));
    expect(run("restore", entry, sealed, "node_modules", "BUILD.bazel")).toEqual({ code: 0, out: "", err: "" });
    expect(keyOf(sealed)).toBe(keyOf(clean));
    for (const p of [join(entry, "tree/node_modules/a/bin/cli"), join(sealed, "node_modules/a/bin/cli")])
      expect(statSync(p).mode & 0o777, p).toBe(0o555);
    // Another mode (the executable bit gone), a file added or removed: discarded the same way as changed bytes.
    const cases: [string, (tree: string) => void, string][] = [
      [
        "mode",
        (t) => chmodSync(join(t, "node_modules/a/bin/cli"), 0o444),
        "tree/node_modules/a/bin/cli changed (its mode (555 -> 444))",
      ],
      ["added", (t) => writeFileSync(join(t, "node_modules/a/extra.js"), ""), "tree/node_modules/a/extra.js was added"],
      ["missing", (t) => rmSync(join(t, "BUILD.bazel")), "tree/BUILD.bazel is missing"],
    ];
    for (const [what, change, diff] of cases) {
      expect(run("store", entry, plant(join(tmp, `tamper-${what}`)), "node_modules", "BUILD.bazel").code, what).toBe(0);
      change(join(entry, "tree"));
      const r = run("restore", entry, mkdtempSync(join(tmp, "tamper-c-")), "node_modules", "BUILD.bazel");
      expect(r, what).toEqual({ code: 3, out: "", err: `discarded ${entry}: ${diff} since it was stored` });
      expect(existsSync(entry), what).toBe(false);
    }
  });

  test("an entry without its completion marker is ignored (exit 3, nothing copied) and replaced by the next store", () => {
    const cache = join(tmp, "c2");
    const entry = join(cache, `npm-${"b".repeat(64)}`);
    mkdirSync(join(entry, "tree/node_modules"), { recursive: true }); // what a copy by hand, or a partial one, leaves
    const dest = join(tmp, "d2");
    mkdirSync(dest);
    const r = run("restore", entry, dest, "node_modules");
    expect(r.code).toBe(3);
    expect(r.err).toBe(`ignored ${entry}: no readable entry.json (ENOENT)`);
    expect(readdirSync(dest)).toEqual([]);
    writeFileSync(
      join(entry, "entry.json"),
      JSON.stringify({ format: "rules_pipeline repo cache 1", kind: "npm", key: "c".repeat(64) }),
    );
    expect(run("restore", entry, dest, "node_modules").err).toBe(`ignored ${entry}: entry.json is not this entry's`);
    expect(run("store", entry, plant(join(tmp, "s2")), "node_modules").code).toBe(0);
    expect(readdirSync(cache)).toEqual([`npm-${"b".repeat(64)}`]);
    expect(run("restore", entry, dest, "node_modules").code).toBe(0);
    expect(readFileSync(join(dest, "node_modules/a/index.js"), "utf8")).toBe("x");
  });

  test("only <dir>/<kind>-<64 hex> is an entry, and a symlink out of the tree is not stored", () => {
    const src = plant(join(tmp, "s3"));
    for (const bad of [
      join(tmp, "c3", "npm-../../x"),
      join(tmp, "c3", `npm-${"A".repeat(64)}`),
      `c3/npm-${"a".repeat(64)}`,
    ]) {
      const r = run("store", bad, src, "node_modules");
      expect(r.code).toBe(1);
      expect(r.err).toBe(`not a cache entry path: ${JSON.stringify(bad)}`);
    }
    expect(run("store", join(tmp, "c3", `npm-${"a".repeat(64)}`), src, "../x").err).toBe('not a plain name: "../x"');
    symlinkSync("/etc/passwd", join(src, "node_modules/a/abs"));
    const r = run("store", join(tmp, "c3", `npm-${"a".repeat(64)}`), src, "node_modules");
    expect(r.code).toBe(1);
    expect(r.err).toBe('node_modules/a/abs is a symlink to "/etc/passwd", outside the repository: not cached');
    expect(existsSync(join(tmp, "c3"))).toBe(false); // refused before anything is written
  });

  test("a store killed half way leaves a temporary sibling only; pipeline cache du counts entries, prune removes both", async () => {
    const root = join(tmp, "root");
    const cache = join(root, "repos");
    const big = join(tmp, "s4");
    mkdirSync(join(big, "node_modules"), { recursive: true });
    for (let i = 0; i < 4000; i++) writeFileSync(join(big, "node_modules", `f${i}`), "y".repeat(100));
    const entry = join(cache, `npm-${"d".repeat(64)}`);
    const child = spawn(process.execPath, [HELPER, "store", entry, big, "node_modules"], {
      stdio: "ignore",
      detached: true,
    });
    // Killed (the whole group: cp too) once its temporary directory exists.
    for (let i = 0; i < 400 && !(existsSync(cache) && readdirSync(cache).length > 0); i++)
      await new Promise((r) => setTimeout(r, 5));
    process.kill(-(child.pid ?? 0), "SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const left = readdirSync(cache);
    expect(left).toHaveLength(1);
    expect(parseTempName(left[0])).toMatchObject({
      for: `npm-${"d".repeat(64)}`,
      owner: { pid: child.pid },
      scheme: "current",
    });
    expect(run("restore", entry, join(tmp, "s4"), "node_modules").code).toBe(2); // never seen as an entry

    expect(run("store", join(cache, `tools-${"e".repeat(64)}`), plant(join(tmp, "s5")), "node_modules").code).toBe(0);
    const du = cacheUsage(root);
    expect(du.kinds.repos.entries).toBe(1);
    expect(du.kinds.temp.entries).toBe(1);
    expect((await pruneCache(root)).removed.map((r) => [r.kind, r.path])).toEqual([["temp", join(cache, left[0])]]);
    expect((await pruneCache(root, { maxBytes: 0 })).removed.map((r) => [r.kind, r.path])).toEqual([
      ["repos", join(cache, `tools-${"e".repeat(64)}`)],
    ]);
    expect(readdirSync(cache)).toEqual([]);
  });
});
