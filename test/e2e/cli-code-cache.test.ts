/**
 * The npm package's `pipeline` (scripts/pack.js: pipeline.js, tools/pipeline-loader.ts) runs its bundle, whose
 * second file (the commands, src/cli/lazy-bundle.ts) it loads with a V8 code cache in the user's cache directory
 * (src/cli/code-cache.ts), built here as pack.js builds it, pushing to a real registry:
 *  - `--version`, `--help` and a usage error load only the first file: they work without the second and read no
 *    cache; a command without the second file fails naming it;
 *  - the first run writes the cache, the second uses it (V8 accepted it: `-v` says `hit`), with the same outputs
 *    and exit codes as without a cache (`PIPELINE_CODE_CACHE=off`), for a success and for a failure;
 *  - a damaged, truncated or foreign file (another bundle's, or V8 data for other source that V8 rejects) is
 *    ignored and replaced;
 *  - a cache directory that cannot be created changes nothing but the `-v` line;
 *  - at most CODE_CACHE_KEEP files stay, a killed writer's temporary file goes; `cache du` counts the files and
 *    `cache prune` removes them; a hit renews the file's mtime (at most once an hour), so `--older-than` keeps a
 *    file in use.
 * No timing here: bench/ (P2, P14) measures what the cache saves.
 */
import { spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CODE_CACHE_KEEP } from "../../src/cache/layout";
import { codeCacheFileName, encodeCodeCache } from "../../src/cli/code-cache";
import { sha256 } from "../../src/oci/digest";
import { writeLayout } from "../../src/layout/write";
import { REPO_ROOT } from "../fixtures/repo";
import { type CliResult, execProgram } from "../fixtures/cli";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-code-cache-"));
const cliDir = join(tmp, "cli");
const layout = join(tmp, "layout");
let reg: RunningRegistry | undefined;
let bundleHex = "";

beforeAll(async () => {
  const build = await execProgram(process.execPath, [
    "-e",
    `require(${JSON.stringify(join(REPO_ROOT, "scripts", "pack.js"))}).buildCliWithRuntime(${JSON.stringify(cliDir)})`,
  ]);
  expect(build.code, build.stderr).toBe(0);
  bundleHex = sha256(readFileSync(join(cliDir, "pipeline-main.lazy.js"))).slice("sha256:".length);
  await writeLayout(layout, randomImage({ layers: 2 }));
  reg = await startRegistry();
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the CLI from outside the checkout with its cache root at `cacheDir`. */
function cli(cacheDir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const env = {
    PATH: process.env.PATH,
    HOME: join(tmp, "home"),
    CI: "true",
    PIPELINE_CACHE_DIR: cacheDir,
    ...extraEnv,
  };
  return execProgram(process.execPath, [join(cliDir, "pipeline.js"), ...args], { env, cwd: tmp });
}

const push = () => ["push", layout, "--repository", `${reg!.host}/code-cache/p`, "--tag", "v1"];
/** The code cache's `-v` lines. */
const cacheLines = (r: CliResult) => r.stderr.split("\n").filter((l) => l.startsWith("debug: code cache: "));
/** Everything else a run printed, without the request lines' timings. */
const outputs = (r: CliResult) => ({
  code: r.code,
  stdout: r.stdout,
  stderr: r.stderr
    .split("\n")
    .filter((l) => !l.startsWith("debug: code cache: "))
    .map((l) => l.replace(/\(\d+ ms\)$/, "(N ms)"))
    .join("\n"),
});
const cacheFile = (cacheDir: string) => join(cacheDir, "code-cache", codeCacheFileName(bundleHex));

describe("the packaged CLI's code cache", () => {
  it("is not read by --version, --help or a usage error, which load only the bundle's first file", async () => {
    const c = join(tmp, "c0");
    const lean = join(tmp, "cli-first-file-only");
    mkdirSync(lean);
    for (const f of ["pipeline.js", "pipeline-main.js"]) writeFileSync(join(lean, f), readFileSync(join(cliDir, f)));
    const run = (args: string[]) =>
      execProgram(process.execPath, [join(lean, "pipeline.js"), ...args], {
        env: { PATH: process.env.PATH, HOME: join(tmp, "home"), PIPELINE_CACHE_DIR: c },
        cwd: tmp,
      });
    const version = await run(["-v", "--version"]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^pipeline \d+\.\d+\.\d+ /);
    expect(version.stderr).toBe("");
    const help = await run(["-v", "--help"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("push");
    const usage = await run(["push", "--no-such-flag"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error\[E_USAGE\]/);
    const push = await run(["push", layout, "--repository", `${reg!.host}/x`]);
    expect(push.code).toBe(70);
    expect(push.stderr).toContain(join(lean, "pipeline-main.lazy.js"));
    expect(readdirSync(tmp)).not.toContain("c0");
  });

  it("is written by the first run and used by the second, which behave as runs without it", async () => {
    const c = join(tmp, "c1");
    const first = await cli(c, ["-v", ...push()]);
    expect(first.code, first.stderr).toBe(0);
    expect(cacheLines(first)).toEqual([
      `debug: code cache: miss ${cacheFile(c)}: none yet`,
      `debug: code cache: written ${cacheFile(c)}`,
    ]);
    expect(readdirSync(join(c, "code-cache"))).toEqual([codeCacheFileName(bundleHex)]);
    const second = await cli(c, ["-v", ...push()]);
    expect(cacheLines(second)).toEqual([`debug: code cache: hit ${cacheFile(c)}`]);
    const off = await cli(join(tmp, "c1-off"), ["-v", ...push()], { PIPELINE_CODE_CACHE: "off" });
    expect(cacheLines(off)).toEqual(["debug: code cache: off (PIPELINE_CODE_CACHE=off)"]);
    expect(readdirSync(tmp)).not.toContain("c1-off");
    expect(outputs(second)).toEqual(outputs(off));
    expect(first.stdout).toBe(second.stdout); // the first push uploaded the image, the others found it there
    expect(second.stdout.trim()).toMatch(
      new RegExp(`^${reg!.host.replace(/\./g, "\\.")}/code-cache/p@sha256:[0-9a-f]{64}$`),
    );
    // Without -v, nothing about the cache; a failure and a usage error come out the same with and without it.
    for (const args of [
      push(),
      ["push", join(tmp, "no-such-layout"), "--repository", `${reg!.host}/x`],
      ["push", "--no-such-flag"],
    ]) {
      const hit = await cli(c, args);
      expect(hit.stderr).not.toContain("code cache");
      expect(outputs(hit)).toEqual(outputs(await cli(c, args, { PIPELINE_CODE_CACHE: "off" })));
    }
    // The failing runs were hits too: the file is the one the first run wrote.
    expect(
      cacheLines(await cli(c, ["-v", "push", join(tmp, "no-such-layout"), "--repository", `${reg!.host}/x`])),
    ).toEqual([`debug: code cache: hit ${cacheFile(c)}`]);
  });

  it("ignores and replaces a damaged, truncated or foreign file, and one V8 rejects", async () => {
    const c = join(tmp, "c2");
    expect((await cli(c, push())).code).toBe(0);
    const good = readFileSync(cacheFile(c));
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1] ^= 0x55;
    // V8 data for other source, in a file for this bundle: V8 itself rejects it.
    const otherSource = new Script("(function () { return 42; })").createCachedData();
    const cases: [string, Buffer, string][] = [
      ["damaged", damaged, "damaged (checksum mismatch)"],
      ["truncated", good.subarray(0, good.length >> 1), "damaged (checksum mismatch)"],
      ["a header only", good.subarray(0, 100), "not a code cache file"],
      [
        "another bundle's",
        encodeCodeCache(sha256("another bundle").slice(7), good.subarray(136)),
        "made for another bundle",
      ],
    ];
    for (const [what, bytes, problem] of cases) {
      writeFileSync(cacheFile(c), bytes);
      const r = await cli(c, ["-v", ...push()]);
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(cacheLines(r), what).toEqual([
        `debug: code cache: miss ${cacheFile(c)}: ${problem}`,
        `debug: code cache: written ${cacheFile(c)}`,
      ]);
      expect(cacheLines(await cli(c, ["-v", ...push()])), what).toEqual([`debug: code cache: hit ${cacheFile(c)}`]);
    }
    writeFileSync(cacheFile(c), encodeCodeCache(bundleHex, otherSource));
    const rejected = await cli(c, ["-v", ...push()]);
    expect(rejected.code).toBe(0);
    expect(cacheLines(rejected)).toEqual([
      `debug: code cache: miss ${cacheFile(c)}: rejected by V8 (another Node or other V8 flags)`,
      `debug: code cache: written ${cacheFile(c)}`,
    ]);
    expect(cacheLines(await cli(c, ["-v", ...push()]))).toEqual([`debug: code cache: hit ${cacheFile(c)}`]);
  });

  it("is not required: a cache root that cannot be created changes nothing but the -v line", async () => {
    const file = join(tmp, "a-file");
    writeFileSync(file, "not a directory");
    const c = join(file, "cache");
    const r = await cli(c, ["-v", ...push()]);
    expect(cacheLines(r)).toEqual([
      `debug: code cache: miss ${cacheFile(c)}: unreadable (ENOTDIR)`,
      `debug: code cache: not written (ENOTDIR): ${cacheFile(c)}`,
    ]);
    expect(outputs(r)).toEqual(
      outputs(await cli(join(tmp, "c3-off"), ["-v", ...push()], { PIPELINE_CODE_CACHE: "off" })),
    );
  });

  it("a hit renews its file's mtime (at most once an hour), so prune --older-than keeps a file in use", async () => {
    const c = join(tmp, "c5");
    expect((await cli(c, push())).code).toBe(0);
    const file = cacheFile(c);
    const threeDaysAgo = Date.now() / 1000 - 3 * 86400;
    utimesSync(file, threeDaysAgo, threeDaysAgo);
    expect(cacheLines(await cli(c, ["-v", ...push()]))).toEqual([`debug: code cache: hit ${file}`]);
    expect(Date.now() - statSync(file).mtimeMs).toBeLessThan(60_000);
    const prune = await cli(c, ["cache", "prune", "--older-than", "2d"], { PIPELINE_CODE_CACHE: "off" });
    expect(prune.code, prune.stderr).toBe(0);
    expect(readdirSync(join(c, "code-cache"))).toEqual([codeCacheFileName(bundleHex)]);
    // Used within the hour: the hit leaves the time alone (one syscall an hour, not one a run).
    const halfAnHourAgo = Math.floor(Date.now() / 1000) - 1800;
    utimesSync(file, halfAnHourAgo, halfAnHourAgo);
    expect(cacheLines(await cli(c, ["-v", ...push()]))).toEqual([`debug: code cache: hit ${file}`]);
    expect(Math.round(statSync(file).mtimeMs / 1000)).toBe(halfAnHourAgo);
    // A file nobody used for three days goes (a prune that ran from the cache would be a use: not this one).
    utimesSync(file, threeDaysAgo, threeDaysAgo);
    expect((await cli(c, ["cache", "prune", "--older-than", "2d"], { PIPELINE_CODE_CACHE: "off" })).code).toBe(0);
    expect(readdirSync(join(c, "code-cache"))).toEqual([]);
  });

  it(`keeps at most ${CODE_CACHE_KEEP} files and no leftovers, which cache du counts and cache prune removes`, async () => {
    const c = join(tmp, "c4");
    const dir = join(c, "code-cache");
    mkdirSync(dir, { recursive: true });
    const old = Array.from({ length: CODE_CACHE_KEEP + 2 }, (_, i) => codeCacheFileName(sha256(`old ${i}`).slice(7)));
    old.forEach((name, i) => {
      writeFileSync(join(dir, name), "old");
      utimesSync(join(dir, name), 1_000_000 + i, 1_000_000 + i);
    });
    writeFileSync(join(dir, "not-a-cache-file"), "left alone");
    // What a writer killed half way left: its owner (pid + start time) no longer runs.
    const gone = spawnSync("true").pid;
    writeFileSync(join(dir, `.${old[0]}.tmp-${gone}-1-0123abcd`), "half");
    expect((await cli(c, push())).code).toBe(0);
    const left = readdirSync(dir).sort();
    // Ours, the newest old ones, and what is not ours.
    expect(left).toEqual(
      [codeCacheFileName(bundleHex), ...old.slice(old.length - (CODE_CACHE_KEEP - 1)), "not-a-cache-file"].sort(),
    );
    const du = await cli(c, ["cache", "du", "--json"]);
    const usage = JSON.parse(du.stdout) as { kinds: Record<string, { bytes: number; entries?: number }> };
    expect(usage.kinds["code-cache"].entries).toBe(CODE_CACHE_KEEP);
    expect(usage.kinds["code-cache"].bytes).toBe(left.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0));
    const prune = await cli(c, ["cache", "prune", "--max-size", "0"]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(["not-a-cache-file"]);
  });
});
