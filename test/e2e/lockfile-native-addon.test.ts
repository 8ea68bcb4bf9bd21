/**
 * `pipeline build --lockfile` with a native addon (fs-ext, a real package from the npm registry: `node-gyp configure
 * build` on one C++ file), under the policy `npm_dependencies` has in Bazel (test/e2e/bazel-native-addon.test.ts,
 * which compiles the larger better-sqlite3):
 * - not listed: the build fails naming the package and the flags (before, the addon ended up uncompiled in the
 *   image and failed at run time with "Could not locate the bindings file");
 * - `--allow-install-scripts fs-ext`: `npm rebuild --offline` compiles it from source (node-gyp, npm's
 *   nodedir headers); only `build/Release/*.node` of its build directory is in the layer, and the image runs it
 *   under runc;
 * - `--ignore-install-scripts`: installed, never built (so it fails at run time, as asked);
 * - a listed name that is not a package is an error naming the flag and the value.
 * The npm registry must be reachable (or npm's cache warm).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildArgs, build } from "../../src/cli/commands/build";
import type { CliIo } from "../../src/cli/io";
import { listLayer } from "../../src/layer/tar-read";
import { blobPath, readLayout } from "../../src/layout/read";
import { pipelineErrorOf } from "../fixtures/errors";
import { REPO_ROOT } from "../fixtures/repo";
import { runLayoutImage } from "../fixtures/runc";

let tmp: string;
let project: string;
let env: NodeJS.ProcessEnv;
let base: string;

function io(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    env,
    cwd: process.cwd(),
    isTTY: false,
    readStdin: async () => "",
  };
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-lockfile-native-"));
  env = { ...process.env };
  delete env.SOURCE_DATE_EPOCH;
  project = join(tmp, "project");
  mkdirSync(project);
  for (const f of ["package.json", "package-lock.json", "main.js"])
    cpSync(join(REPO_ROOT, "test", "fixtures", "native-addon-small", f), join(project, f));
  base = join(tmp, "cache");
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const args = (output: string, extra: Partial<BuildArgs> = {}): BuildArgs => ({
  lockfile: project,
  entry: "main.js",
  "cache-dir": base,
  output,
  ...extra,
});

describe("pipeline build --lockfile, packages with install scripts", () => {
  it("not listed: fails naming the package, what would run and both flags", async () => {
    const e = await pipelineErrorOf(build(args(join(tmp, "refused")), io()));
    expect(e.code).toBe("E_INSTALL_SCRIPTS");
    expect(e.message).toContain("fs-ext (");
    expect(e.message).toContain("--allow-install-scripts fs-ext");
    expect(e.message).toContain("--ignore-install-scripts");
  });

  it("a listed name that is not a package names the flag and the value", async () => {
    const e = await pipelineErrorOf(
      build(
        args(join(tmp, "x"), { "allow-install-scripts": ["fs-ext"], "ignore-install-scripts": ["no-such-pkg"] }),
        io(),
      ),
    );
    expect(e.code).toBe("E_INSTALL_SCRIPTS");
    expect(e.message).toContain('--ignore-install-scripts "no-such-pkg"');
  });

  it("--allow-install-scripts: compiled from source, only the addon kept of build/, and it runs in the image", async () => {
    const out = join(tmp, "allowed");
    const c = io();
    await build(args(out, { "allow-install-scripts": ["fs-ext"] }), c);
    expect(c.err.join("\n")).toContain("built fs-ext from source");
    const img = readLayout(out);
    const paths = (await listLayer(blobPath(out, img.layers.at(-2)!.digest))).map((e) => e.path);
    const built = paths.filter((p) => p.startsWith("app/node_modules/fs-ext/build/"));
    const files = built.filter((p) => !p.endsWith("/"));
    expect(files).toContain("app/node_modules/fs-ext/build/Release/fs_ext.node");
    // Object files, Makefiles and node-gyp's python3 link are gone: addons directly in build/Release/ only.
    expect(files.filter((p) => !/^app\/node_modules\/fs-ext\/build\/Release\/[^/]+\.node$/.test(p))).toEqual([]);
    const run = runLayoutImage(out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe("fs-ext flock function");
  });

  it("--ignore-install-scripts: installed but not built, so the image fails where the addon is loaded", async () => {
    const out = join(tmp, "ignored");
    await build(args(out, { "ignore-install-scripts": ["fs-ext"] }), io());
    const run = runLayoutImage(out);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/fs_ext\.node/);
  });
});
