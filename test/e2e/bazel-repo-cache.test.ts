/**
 * Issue #23 item 3: rules_pipeline's repository cache (bazel/private/repositories/repo_cache.bzl), differentially, on real Bazel
 * 4.2.3. Three consumer workspaces, three output bases, one temporary PIPELINE_REPO_CACHE:
 *   A: the cache off; B: the cache cold (B fills it); C: the cache warm.
 * - the three `hello_image.digest` files are identical, and so are the trees of @npm, @rules_pipeline_npm,
 *   @rules_pipeline_tools_npm and
 *   @rules_pipeline_tools (every path, every file's bytes and symlink's target, with each output base's and
 *   workspace's own path written as a placeholder);
 * - B's and C's files are hard links of the entries' (B stored them, C restored them; A's are its own); A and B ran `npm ci`, C did not: npm is a logging
 *   wrapper first on PATH (the real npm runs), and its log is the evidence; the cache holds whole entries (a
 *   completion marker each) after B;
 * - an edited lockfile misses the cache (`npm ci` runs again) and gives what a fetch without the cache gives;
 * - an entry with no completion marker (here: one with a package removed) is ignored, and replaced;
 * - PIPELINE_REPO_CACHE (in the rules' `environ`) changed to `off` refetches, with `npm ci`;
 * - PIPELINE_REPO_CACHE_MAX_SIZE reaches the store: a bad value is a warning naming it, a small one evicts the rest.
 * - A's cold build (of `hello_push` too) fetches the workspace's @npm while the rules fetch their own repositories
 *   (@rules_pipeline_tools_npm, then @rules_pipeline_tools, then @pipeline-host-node, each waiting for the one before): its
 *   --profile has @npm's repository rule start before the last of them ends. On 4.2.3 it started only after the last
 *   had ended, until the rules' implicit dependencies and the bases went through aliases (bazel/private/BUILD.bazel).
 * And on Bazel 7.7.1 (WORKSPACE mode, scripts/bazel7.sh's chroot; its own entries, as its npm configuration and label
 * spellings differ): the same overlap in the first (cold) build, which 7.7.1 had without the aliases; a second output
 * base restores every entry (each one's modification time, set to 2000 before, is
 * its last use) and gets the trees and the image digest of the first (not 4.2.3's: the host-node base is made of
 * the chroot's libraries).
 * npm's cache must be warm (or the registry reachable). The workspaces build with the run's shared --disk_cache: it
 * serves actions, never repositories, and an action only for the same inputs (so B's and C's builds take A's actions,
 * and E's D's, instead of running them again, unless their external trees differ).
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { endOfLifeWarning } from "../../src/base/node-releases";
import { bazel, discard, makeConsumerWorkspace, outputBase } from "../fixtures/bazel";
import { BAZEL7_OUTPUT_ROOT, bazel7, ensureBazel7, shutdown7, WORKSPACE_MODE_FLAGS } from "../fixtures/bazel7";
import { summarizeProfile } from "../../bench/lib/bazel-actions";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-repo-cache-"));
const cache = join(tmp, "repo-cache");
const REPOS = ["npm", "rules_pipeline_npm", "rules_pipeline_tools_npm", "rules_pipeline_tools"];
const TARGET = "//examples/hello:hello_image";
const REAL_NPM = spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim();

interface Ws {
  name: string;
  ws: string;
  env: Record<string, string>;
  log: string;
}
const all: Ws[] = [];

/** A consumer workspace whose Bazel finds, as `npm`, a wrapper that logs its arguments to `log` and runs the real npm. */
function workspace(name: string, repoCache: string): Ws {
  // The run's shared --disk_cache (test/fixtures/bazel.ts): this file's subject is how repositories are fetched, which
  // a disk cache does not touch (it serves actions only). An action is taken from it only for the same inputs, so a
  // workspace whose external trees differed from A's would run its actions and the digests below would show it; the
  // trees are compared file by file besides. Bazel 7's builds add --remote_download_all (DOWNLOAD_ALL).
  const ws = makeConsumerWorkspace(join(tmp, name), "");
  const bin = join(tmp, name, "bin");
  const log = join(tmp, name, "npm.log");
  mkdirSync(bin);
  writeFileSync(
    join(bin, "npm"),
    `#!/bin/bash\nprintf '%s\\n' "$*" >> ${JSON.stringify(log)}\nexec ${JSON.stringify(REAL_NPM)} "$@"\n`,
  );
  chmodSync(join(bin, "npm"), 0o755);
  writeFileSync(log, "");
  const w = { name, ws, log, env: { PATH: `${bin}:${process.env.PATH}`, PIPELINE_REPO_CACHE: repoCache } };
  all.push(w);
  return w;
}

const npmRuns = (w: Ws) =>
  readFileSync(w.log, "utf8")
    .split("\n")
    .filter((l) => /^(ci|rebuild)\b/.test(l));

/**
 * Every path under `dir` with its type, mode and content digest, the output base's and workspace's paths as
 * placeholders. The write bits are left out: a repository stored in or restored from the cache is read-only
 * (bootstrap/repo_cache.js), one fetched without it is not; the layers (0644/0755) and every action see the same.
 */
function tree(dir: string, w: Ws, ob = outputBase(w.ws)): string[] {
  const neutral = (s: string) => s.split(ob).join("<output base>").split(join(tmp, w.name)).join("<workspace>");
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${neutral(readlinkSync(join(dir, r)))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else {
        const text = neutral(readFileSync(join(dir, r), "latin1"));
        out.push(`${r} ${(st.mode & 0o555).toString(8)} ${createHash("sha256").update(text, "latin1").digest("hex")}`);
      }
    }
  };
  walk("");
  return out;
}

const eachFile = (root: string, visit: (p: string) => void) => {
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.isDirectory()) eachFile(join(root, e.name), visit);
    else if (e.isFile()) visit(join(root, e.name));
  }
};

/** The inodes of the files of every entry of the cache `store` (read once per check, not once per repository). */
function cacheInodes(store = cache): Set<number> {
  const inodes = new Set<number>();
  for (const e of readdirSync(store)) eachFile(join(store, e, "tree"), (p) => inodes.add(statSync(p).ino));
  return inodes;
}

/** How many regular files under `dir` are hard links of a file in `inodes` (cacheInodes: an entry's files). */
function filesLinkedToCache(dir: string, inodes: Set<number>): number {
  let n = 0;
  eachFile(dir, (p) => {
    if (inodes.has(statSync(p).ino)) n++;
  });
  return n;
}

const external = (w: Ws, repo: string) => join(outputBase(w.ws), "external", repo);
const digest = (w: Ws) => readFileSync(join(w.ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8").trim();
const entries = () => (existsSync(cache) ? readdirSync(cache).sort() : []);

/**
 * A cold build's `--profile` (`profile`): the workspace's @npm began to be fetched before the rules' chain of fetches
 * (@rules_pipeline_tools_npm, then @rules_pipeline_tools, then @pipeline-host-node, each waiting for the one before) had
 * ended: it was not held up by the whole chain, as it was on 4.2.3 before the aliases. Where in the chain it starts is
 * Bazel's scheduling: on a quiet machine before the first link ends; once, on a new machine at load 15, only after it
 * (44 s against 7-34 s), so the check is against the chain's end.
 */
function expectNpmFetchOverlaps(profile: string): void {
  const fetched = summarizeProfile(readFileSync(profile, "utf8")).repositories;
  const fetch = (name: string) => {
    const r = fetched.find((x) => x.name === name);
    if (!r)
      throw new Error(`@${name} was not fetched in this build; fetched: ${fetched.map((x) => x.name).join(", ")}`);
    return r;
  };
  const npm = fetch("npm");
  const chain = ["rules_pipeline_tools_npm", "rules_pipeline_tools", "pipeline-host-node"].map(fetch);
  const chainEnd = Math.max(...chain.map((r) => r.endMs));
  const ms = (x: number) => `${Math.round(x)} ms`;
  const why = `@npm's fetch started at ${ms(npm.startMs)}, after the rules' chain had ended: ${chain.map((r) => `@${r.name} ${ms(r.startMs)}-${ms(r.endMs)}`).join(", ")}`;
  expect(npm.startMs, why).toBeLessThan(chainEnd);
}

/**
 * @pipeline-host-node's fetch says when the host's Node is past its end of life (issue #74: Node 20 here, since
 * 2026-04-30), naming the version, and says nothing for a supported one. The chroot's node is a copy of the host's.
 */
function expectEndOfLifeWarning(stderr: string): void {
  const warning = endOfLifeWarning(process.version, "the host-node base image");
  if (warning) expect(stderr).toContain(`@pipeline-host-node: ${warning}`);
  else expect(stderr).not.toContain("end of life");
}

/** Runs Bazel in `w`; its stderr. Unless `warned`, the cache must have warned of nothing. */
async function build(w: Ws, args = ["build", TARGET], warned = false): Promise<string> {
  const r = await bazel(w.ws, args, w.env);
  expect(r.code, r.stderr).toBe(0);
  if (!warned) expect(r.stderr).not.toContain("repository cache:");
  return r.stderr;
}

let a: Ws;
/** A's @npm tree once its lockfile is edited (A is not built again after that). */
let aNpm: string[] = [];
let b: Ws;
let c: Ws;

beforeAll(() => {
  a = workspace("a", "off");
  b = workspace("b", cache);
  c = workspace("c", cache);
});

const sevens: string[] = [];
/**
 * Bazel 7 leaves a disk cache hit's outputs that are not top-level undownloaded (--remote_download_outputs=toplevel,
 * its default), hello_image.digest among them: these builds download every output, as 4.2.3 does.
 */
const DOWNLOAD_ALL = "--remote_download_all";
const cleanups: (() => void)[] = [];

afterAll(async () => {
  for (const ws of sevens) await shutdown7(ws, { expunge: true });
  for (const w of all.filter((x) => !sevens.includes(x.ws))) await discard(w.ws);
  for (const c of cleanups) c();
  spawnSync("chmod", ["-R", "u+w", tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

/** Removes `@types/node` (and `undici-types`, its dependency) from the examples' package.json and lockfile: hello does not use them. */
function dropTypesNode(w: Ws): void {
  const dir = join(w.ws, "examples");
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  delete pkg.devDependencies["@types/node"];
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
  delete lock.packages[""].devDependencies["@types/node"];
  delete lock.packages["node_modules/@types/node"];
  delete lock.packages["node_modules/undici-types"];
  writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
}

describe("the repository cache across output bases", () => {
  test("off, cold, warm: the same image and the same external trees; only the warm one ran no npm ci", async () => {
    const profile = join(tmp, "a-cold.profile.json");
    const aErr = await build(a, ["build", TARGET, "//examples/hello:hello_push", `--profile=${profile}`]);
    expectNpmFetchOverlaps(profile);
    expectEndOfLifeWarning(aErr);
    expect(entries()).toEqual([]);
    expect(npmRuns(a)).toHaveLength(3); // the rules' two lockfiles (compiler, tools) and the examples'

    await build(b);
    expect(npmRuns(b)).toHaveLength(3);
    const filled = entries();
    expect(filled.map((e) => e.replace(/-[0-9a-f]{64}$/, ""))).toEqual(["npm", "npm", "npm", "tools"]);
    for (const e of filled) {
      expect(readdirSync(join(cache, e)).sort()).toEqual(["content.json", "entry.json", "tree"]);
      expect(JSON.parse(readFileSync(join(cache, e, "entry.json"), "utf8")).key).toBe(e.split("-")[1]);
    }

    await build(c);
    expect(npmRuns(c)).toEqual([]);
    expect(readFileSync(c.log, "utf8")).toContain("config ls -l --json"); // the wrapper was the npm in use
    expect(entries()).toEqual(filled);

    expect(digest(b)).toBe(digest(a));
    expect(digest(c)).toBe(digest(a));
    const inodes = cacheInodes();
    for (const repo of REPOS) {
      const ref = tree(external(a, repo), a);
      expect(ref.length).toBeGreaterThan(repo === "rules_pipeline_tools" ? 5 : 50);
      expect(tree(external(b, repo), b), `@${repo}: B (cold cache) differs from A (no cache)`).toEqual(ref);
      expect(tree(external(c, repo), c), `@${repo}: C (warm cache) differs from A (no cache)`).toEqual(ref);
      // C's files are the entry's, hard-linked (bootstrap/repo_cache.js); so are B's, from which the entry was
      // stored by hard links; A's are its own.
      expect(filesLinkedToCache(external(c, repo), inodes), `@${repo} in C`).toBeGreaterThan(0);
      expect(filesLinkedToCache(external(b, repo), inodes), `@${repo} in B`).toBeGreaterThan(0);
      expect(filesLinkedToCache(external(a, repo), inodes), `@${repo} in A`).toBe(0);
    }
  });

  test("an edited lockfile misses the cache, and gives what a fetch without the cache gives", async () => {
    dropTypesNode(a);
    dropTypesNode(c);
    const before = entries();
    writeFileSync(a.log, "");
    writeFileSync(c.log, "");
    await build(a);
    await build(c);
    expect(npmRuns(a)).toEqual(["ci --ignore-scripts --no-audit --no-fund --loglevel=error"]);
    expect(npmRuns(c)).toEqual(["ci --ignore-scripts --no-audit --no-fund --loglevel=error"]);
    expect(existsSync(join(external(c, "npm"), "node_modules/@types/node"))).toBe(false);
    expect(existsSync(join(external(c, "npm"), "node_modules/lodash/package.json"))).toBe(true);
    aNpm = tree(external(a, "npm"), a);
    expect(tree(external(c, "npm"), c)).toEqual(aNpm);
    expect(digest(c)).toBe(digest(a));
    expect(entries()).toHaveLength(before.length + 1);
  });

  test("an entry with no completion marker is ignored (npm ci runs) and replaced by a whole one", async () => {
    // The entry C's @npm now uses, made half: no marker, and a package missing.
    const has = (e: string, p: string) => existsSync(join(cache, e, "tree/node_modules", p));
    const mine = entries().filter((e) => has(e, "lodash") && !has(e, "@types/node"));
    expect(mine).toHaveLength(1);
    const entry = join(cache, mine[0]);
    rmSync(join(entry, "entry.json"));
    rmSync(join(entry, "tree/node_modules/lodash"), { recursive: true });
    writeFileSync(c.log, "");
    const stderr = await build(c, ["sync", "--only=npm"], true);
    expect(stderr).toMatch(
      /npm: repository cache: ignored \S+: no readable entry\.json \(ENOENT\); building without it/,
    );
    await build(c);
    expect(npmRuns(c)).toEqual(["ci --ignore-scripts --no-audit --no-fund --loglevel=error"]);
    expect(tree(external(c, "npm"), c)).toEqual(aNpm);
    expect(digest(c)).toBe(digest(a));
    // Replaced: whole again, and the next fetch uses it.
    expect(existsSync(join(entry, "entry.json"))).toBe(true);
    expect(existsSync(join(entry, "tree/node_modules/lodash/package.json"))).toBe(true);
    writeFileSync(c.log, "");
    await build(c, ["sync", "--only=npm"]);
    expect(npmRuns(c)).toEqual([]);
    expect(tree(external(c, "npm"), c)).toEqual(aNpm);
  });

  test("PIPELINE_REPO_CACHE=off on a later command refetches, without the cache (docs/npm.md: how to rebuild an entry's contents)", async () => {
    writeFileSync(c.log, "");
    const before = entries();
    // A query of @npm: the command needs that repository only, so only it is refetched (the rules' two npm
    // repositories are the same npm_dependencies rule, with the same `environ`).
    const r = await bazel(c.ws, ["query", "@npm//:node_modules/lodash"], { ...c.env, PIPELINE_REPO_CACHE: "off" });
    expect(r.code, r.stderr).toBe(0);
    expect(npmRuns(c)).toEqual(["ci --ignore-scripts --no-audit --no-fund --loglevel=error"]);
    expect(readFileSync(c.log, "utf8")).not.toContain("config ls"); // no key computed
    expect(entries()).toEqual(before);
    expect(tree(external(c, "npm"), c)).toEqual(aNpm);
  });

  test("PIPELINE_REPO_CACHE_MAX_SIZE reaches the store: a bad value is a warning naming it (nothing stored), a small one evicts", async () => {
    /** A lockfile with other bytes (indentation) and the same packages: a miss, then `npm ci`, then a store. */
    const reindent = (indent: number) => {
      const file = join(c.ws, "examples/package-lock.json");
      writeFileSync(file, `${JSON.stringify(JSON.parse(readFileSync(file, "utf8")), null, indent)}\n`);
    };
    const before = entries();
    reindent(1);
    const bad = await bazel(c.ws, ["build", TARGET], { ...c.env, PIPELINE_REPO_CACHE_MAX_SIZE: "lots" });
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stderr).toContain(
      'npm: repository cache: not stored: PIPELINE_REPO_CACHE_MAX_SIZE: expected a size like 500MB, 20GiB or 1048576 (bytes), got "lots"',
    );
    expect(entries()).toEqual(before);
    reindent(3);
    const small = await bazel(c.ws, ["build", TARGET], { ...c.env, PIPELINE_REPO_CACHE_MAX_SIZE: "1" });
    expect(small.code, small.stderr).toBe(0);
    const after = entries();
    expect(after).toHaveLength(1); // the entry just stored; every other one was over the bound
    expect(before).not.toContain(after[0]);
    // Not in the rules' `environ` (docs/npm.md): another value, or none, refetches nothing.
    writeFileSync(c.log, "");
    await build(c);
    expect(npmRuns(c)).toEqual([]);
    expect(readFileSync(c.log, "utf8")).not.toContain("config ls"); // no fetch at all: no key computed
  });

  test("Bazel 7.7.1: the cold fetches overlap; a second output base restores every entry and gets the same trees and image", async () => {
    await ensureBazel7();
    // Inside the output user root, as scripts/test.sh puts the run's cache: scripts/bazel7.sh mounts that root once and
    // does not mount a path under it again, so a restore in the chroot makes hard links (a cache on a bind mount of
    // its own would be copied: EXDEV).
    mkdirSync(BAZEL7_OUTPUT_ROOT, { recursive: true });
    const cache7 = mkdtempSync(join(BAZEL7_OUTPUT_ROOT, "test-repo-cache-"));
    cleanups.push(() => rmSync(cache7, { recursive: true, force: true }));
    const mounts = [cache7];
    let coldStderr = "";
    const run7 = async (w: Ws, args: string[]) => {
      const r = await bazel7(w.ws, args, { mounts, hostNpmCache: true, env: { PIPELINE_REPO_CACHE: cache7 } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain("repository cache:");
      coldStderr ||= r.stderr;
      return r.stdout.trim();
    };
    const [d, e] = ["d", "e"].map((n) => workspace(n, cache7));
    for (const w of [d, e]) {
      rmSync(join(w.ws, ".bazelversion")); // the chroot's wrapper does not take "4"
      sevens.push(w.ws);
    }
    const profile = join(d.ws, "cold.profile.json");
    await run7(d, [
      "build",
      ...WORKSPACE_MODE_FLAGS,
      DOWNLOAD_ALL,
      TARGET,
      "//examples/hello:hello_push",
      `--profile=${profile}`,
    ]);
    expectNpmFetchOverlaps(profile);
    expectEndOfLifeWarning(coldStderr);
    const filled = readdirSync(cache7).sort();
    expect(filled.map((x) => x.replace(/-[0-9a-f]{64}$/, ""))).toEqual(["npm", "npm", "npm", "tools"]);
    const old = new Date("2000-01-01T00:00:00Z");
    for (const x of filled) utimesSync(join(cache7, x), old, old);
    await run7(e, ["build", ...WORKSPACE_MODE_FLAGS, DOWNLOAD_ALL, TARGET]);
    expect(readdirSync(cache7).sort()).toEqual(filled);
    for (const x of filled)
      expect(statSync(join(cache7, x)).mtimeMs, `${x} was not restored`).toBeGreaterThan(old.getTime() + 86_400_000);
    const [obD, obE] = [
      await run7(d, ["info", ...WORKSPACE_MODE_FLAGS, "output_base"]),
      await run7(e, ["info", ...WORKSPACE_MODE_FLAGS, "output_base"]),
    ];
    const inodes7 = cacheInodes(cache7);
    for (const repo of REPOS) {
      const ref = tree(join(obD, "external", repo), d, obD);
      expect(ref.length).toBeGreaterThan(5);
      expect(tree(join(obE, "external", repo), e, obE), `@${repo}: Bazel 7, warm cache`).toEqual(ref);
      expect(
        filesLinkedToCache(join(obE, "external", repo), inodes7),
        `@${repo}: Bazel 7, warm cache, hard links`,
      ).toBeGreaterThan(0);
      expect(
        filesLinkedToCache(join(obD, "external", repo), inodes7),
        `@${repo}: Bazel 7, cold cache (stored by hard links)`,
      ).toBeGreaterThan(0);
    }
    expect(digest(e)).toBe(digest(d));
  });
});
