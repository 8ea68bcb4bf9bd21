/**
 * npm_dependencies names the files of node_modules in its BUILD file (`GLOBS` of npm_globs.bzl, written at fetch time
 * by bootstrap/npm_globs.js) instead of globbing them, so that Bazel checks no directory listing of the tree before
 * each build. The claim: every target gets exactly the files glob() gave. Bazel 4.2.3's own glob is the oracle:
 * - on real trees: the rules' own npm repository (~200 packages: scoped, nested node_modules, .bin links, a platform
 *   package) and the examples' one, whose generated BUILD file is rewritten with glob(...) in place of each
 *   npm_files(GLOBS, ...) in a package of the main repository that sees the same node_modules: every npm_package's
 *   `srcs` and `types` must be the same lists; also a package of ours (a `file:` tarball) with a non-ASCII and a
 *   spaced file name, whose target must build (its files found under the names the BUILD file gives);
 * - on a tree of edge cases (names with spaces, quotes, `#`, `%`, UTF-8 and non-UTF-8 bytes, hidden files, nested
 *   `.bin` directories, symlinks to files and to directories, a dangling symlink, an exact file pattern, a pattern
 *   naming a directory): npm_globs.js's list of each pattern against glob() of it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, outputBase, REPO_ROOT } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const EXCLUDES = ["node_modules/.bin/**", "node_modules/.package-lock.json", "node_modules/**/.bin/**"];
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-npm-globs-"));
let ws: string;
let borrowed: Borrowed | undefined;

/** A package whose files have a non-ASCII and a spaced name, as a `file:` tarball an npm lockfile names. */
function weirdPackage(dir: string): void {
  const src = join(dir, "weird-src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "package.json"), JSON.stringify({ name: "weird", version: "1.0.0", main: "index.js" }));
  for (const f of ["index.js", "\u00fcn\u00ef.js", "with space.js"])
    writeFileSync(join(src, f), "module.exports = 1;\n");
  const tgz = join(
    dir,
    execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: src, encoding: "utf8" }).trim(),
  );
  const pkg = join(dir, "weird");
  mkdirSync(pkg);
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({ name: "c", version: "1.0.0", dependencies: { weird: `file:${tgz}` } }),
  );
  execFileSync(
    "npm",
    ["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
    { cwd: pkg },
  );
  const lock = JSON.parse(readFileSync(join(pkg, "package-lock.json"), "utf8"));
  lock.packages["node_modules/weird"].resolved = `file:${tgz}`; // npm writes it relative to the project
  writeFileSync(join(pkg, "package-lock.json"), JSON.stringify(lock, null, 2));
  writeFileSync(join(pkg, "BUILD.bazel"), 'exports_files(["package.json", "package-lock.json"])\n');
}

beforeAll(() => {
  borrowed = borrowConsumerWorkspace(
    'npm_dependencies(name = "weird_npm", package_json = "//weird:package.json", lockfile = "//weird:package-lock.json")\n',
  );
  ws = borrowed.ws;
  weirdPackage(ws);
});

afterAll(async () => {
  await borrowed?.release();
  execFileSync("rm", ["-rf", tmp]);
});

/**
 * `bazel query --output=build` of `pattern`'s rules of `kind`: each rule's name -> the lists `attrs` as written out
 * (string literals read with their escapes, so a name with a quote stays one entry), `prefix` taken off each label.
 */
async function ruleLists(
  pattern: string,
  kind: string,
  attrs: string[],
  prefix = "",
): Promise<Map<string, Record<string, string[]>>> {
  const r = await bazel(ws, ["query", "--noshow_progress", "--output=build", pattern]);
  expect(r.code, r.stderr).toBe(0);
  const out = new Map<string, Record<string, string[]>>();
  for (const block of r.stdout.split(new RegExp(`\\n(?=${kind}\\()`))) {
    const name = /\n\s*name = "([^"]+)"/.exec(block)?.[1];
    if (!name) continue;
    const list = (attr: string) =>
      [...(new RegExp(`\\n\\s*${attr} = \\[([^\\]]*)\\]`).exec(block)?.[1] ?? "").matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(
        (m) => m[1].replace(prefix, ""),
      );
    out.set(name, Object.fromEntries(attrs.map((a) => [a, list(a)])));
  }
  return out;
}

const npmRules = (pattern: string, prefix: string) => ruleLists(pattern, "npm_package", ["srcs", "types"], prefix);

describe("npm_dependencies names the files glob() would give", () => {
  test("the rules' own npm repositories, the examples' one and odd names: every target's srcs and types, against glob()", async () => {
    const fetched = await bazel(ws, [
      "query",
      "--noshow_progress",
      "@rules_pipeline_npm//:all + @rules_pipeline_tools_npm//:all + @npm//:all + @weird_npm//:all",
    ]);
    expect(fetched.code, fetched.stderr).toBe(0);
    const built = await bazel(ws, ["build", "--noshow_progress", "@weird_npm//:node_modules/weird"]);
    expect(built.code, built.stderr).toBe(0);
    const external = join(outputBase(ws), "external");
    for (const repo of ["rules_pipeline_npm", "rules_pipeline_tools_npm", "npm", "weird_npm"]) {
      const generated = readFileSync(join(external, repo, "BUILD.bazel"), "latin1");
      expect(generated).toContain('load(":npm_globs.bzl", "GLOBS")');
      expect(generated).not.toMatch(/\bglob\(/);
      // The oracle: the same BUILD file with glob() for each npm_files(), in a package that sees the same tree.
      const oracle = join(ws, `oracle_${repo}`);
      mkdirSync(oracle);
      symlinkSync(join(external, repo, "node_modules"), join(oracle, "node_modules"));
      symlinkSync(join(external, repo, "package-lock.json"), join(oracle, "package-lock.json"));
      const withGlobs = generated
        .replace('load(":npm_globs.bzl", "GLOBS")', "")
        .replace(
          /npm_files\(GLOBS, (\[[^\]]*\])\)/g,
          (_, list) => `glob(${list}, exclude = ${JSON.stringify(EXCLUDES)}, allow_empty = True)`,
        );
      writeFileSync(join(oracle, "BUILD.bazel"), withGlobs, "latin1");
      const named = await npmRules(`@${repo}//:all`, `@${repo}//:`);
      const globbed = await npmRules(`//oracle_${repo}:all`, `//oracle_${repo}:`);
      expect(named.size).toBeGreaterThan(
        { rules_pipeline_npm: 2, rules_pipeline_tools_npm: 100, npm: 2, weird_npm: 1 }[repo] ?? 0,
      );
      expect([...named.keys()].sort()).toEqual([...globbed.keys()].sort());
      let files = 0;
      for (const [name, lists] of named) {
        expect(lists, `${repo} ${name}`).toEqual(globbed.get(name));
        files += lists.srcs.length;
      }
      expect(files).toBeGreaterThan(
        { rules_pipeline_npm: 100, rules_pipeline_tools_npm: 5000, npm: 10, weird_npm: 7 }[repo] ?? 0,
      );
    }
    const weird = (await npmRules("@weird_npm//:all", "@weird_npm//:")).get("node_modules/weird")?.srcs ?? [];
    expect(weird).toContain("node_modules/weird/with space.js");
    expect(weird).toContain("node_modules/weird/\u00fcn\u00ef.js");
  }, 600_000);

  test("a tree of edge cases: npm_globs.js's list of each pattern equals glob()", async () => {
    const pkg = join(ws, "edge");
    const nm = join(pkg, "node_modules");
    const files = [
      "a/package.json",
      "a/index.js",
      "a/index.d.ts",
      "a/lib/deep/x.d.ts",
      "a/lib/deep/y.js",
      "a/.hidden",
      "a/.bin/tool",
      "a/node_modules/b/package.json",
      "a/node_modules/b/b.d.mts",
      "a/node_modules/b/.bin/t",
      "a/with space.js",
      "a/quote'd.js",
      'a/dq"x.js',
      "a/#hash.js",
      "a/%pct.js",
      "a/ünï.d.ts",
      ".bin/top",
      ".package-lock.json",
      "c/real/z.d.cts",
    ];
    for (const f of files) {
      mkdirSync(join(nm, f, ".."), { recursive: true });
      writeFileSync(join(nm, f), f);
    }
    writeFileSync(Buffer.from(`${nm}/a/latin1-\xff.js`, "latin1"), "not UTF-8"); // one byte 0xff in the name
    symlinkSync("real", join(nm, "c", "linked"));
    symlinkSync("index.js", join(nm, "a", "main-link.js"));
    symlinkSync("nowhere", join(nm, "a", "dangling.js"));
    const patterns = [
      "node_modules/**",
      "node_modules/a/**",
      "node_modules/a/**/package.json",
      "node_modules/a/**/*.d.ts",
      "node_modules/a/**/*.d.mts",
      "node_modules/c/**/*.d.cts",
      "node_modules/a/index.js",
      "node_modules/a/lib",
      "node_modules/a/missing.js",
      "node_modules/c/linked/**",
    ];
    writeFileSync(join(pkg, "spec.json"), JSON.stringify({ patterns, excludes: EXCLUDES }));
    execFileSync(process.execPath, [join(REPO_ROOT, "bootstrap", "npm_globs.js"), "spec.json", "globs.bzl"], {
      cwd: pkg,
    });
    writeFileSync(
      join(pkg, "BUILD.bazel"),
      ['load(":globs.bzl", "GLOBS")', ""]
        .concat(
          patterns.flatMap((p, i) => [
            `filegroup(name = "named${i}", srcs = GLOBS[${JSON.stringify(p)}])`,
            `filegroup(name = "globbed${i}", srcs = glob([${JSON.stringify(p)}], exclude = ${JSON.stringify(EXCLUDES)}, allow_empty = True))`,
          ]),
        )
        .join("\n"),
    );
    const lists = await ruleLists("//edge:all", "filegroup", ["srcs"]);
    const srcs = new Map([...lists].map(([name, l]) => [name, l.srcs]));
    let total = 0;
    patterns.forEach((p, i) => {
      expect(srcs.get(`named${i}`), p).toEqual(srcs.get(`globbed${i}`));
      total += srcs.get(`named${i}`)?.length ?? 0;
    });
    // What the cases are there for: a followed directory link, a file link, no dangling link, no .bin, the odd names.
    const all = srcs.get("named0") ?? [];
    expect(all).toContain("//edge:node_modules/c/linked/z.d.cts");
    expect(all).toContain("//edge:node_modules/a/main-link.js");
    expect(all.some((l) => l.includes("dangling"))).toBe(false);
    expect(all.some((l) => l.includes(".bin"))).toBe(false);
    expect(all.some((l) => l.includes("latin1-"))).toBe(true);
    expect(all).toContain("//edge:node_modules/a/with space.js");
    expect(srcs.get("named7")).toEqual([]); // a directory is no file
    expect(total).toBeGreaterThan(files.length);
  }, 600_000);
});
