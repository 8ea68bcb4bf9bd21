/**
 * Issue #12, defect 9: a package with install scripts (a native addon) in a consumer's lockfile. The addon is fs-ext,
 * a real package from the npm registry with one C++ file (seconds to compile, where better-sqlite3's SQLite took a
 * minute and a half of CPU): what these tests check is our handling of any addon (the install-script check, `npm
 * rebuild --offline` through node-gyp with npm's nodedir headers, the pruning of build/, the image), not the addon.
 * - not listed in `allow_install_scripts`: the fetch fails naming the package and the attribute (not a missing
 *   `.node` file at run time);
 * - listed: `npm rebuild fs-ext --offline` compiles it from source at fetch time, and its flock works in `_local` and
 *   in the image under runc; on Bazel 7.7.1 too, in scripts/bazel7.sh's chroot (its setup gives node-gyp the host's
 *   Node headers through npm's nodedir). The two Bazel 7.7.1 tests share one server.
 * The npm registry must be reachable (or npm's cache warm).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, makeConsumerWorkspace, QUIET, REPO_ROOT, discard } from "../fixtures/bazel";
import { bazel7, ensureBazel7, shutdown7, WORKSPACE_MODE_FLAGS } from "../fixtures/bazel7";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-native-"));
let ws: string;
/** The workspace's Bazel 7.7.1 server (and output base) is there: the two Bazel 7 tests share it. */
let bazel7Up = false;

const NATIVE_NPM = (attrs: string) => `
npm_dependencies(
    name = "native_npm",
    package_json = "//native:package.json",
    lockfile = "//native:package-lock.json",
${attrs})
`;

/** The WORKSPACE with native_npm given `attrs` (what an earlier call wrote from native_npm on is replaced). */
function setWorkspace(attrs: string): void {
  const path = join(ws, "WORKSPACE");
  const text = readFileSync(path, "utf8");
  const start = text.indexOf('\nnpm_dependencies(\n    name = "native_npm"');
  writeFileSync(path, (start >= 0 ? text.slice(0, start) : text) + NATIVE_NPM(attrs));
}

beforeAll(() => {
  ws = makeConsumerWorkspace(tmp);
  // //native: fs-ext's package.json, lockfile and program (test/fixtures/native-addon-small), one pipeline on the
  // host-node base.
  const pkg = join(ws, "native");
  mkdirSync(pkg);
  for (const f of ["package-lock.json", "main.js"])
    cpSync(join(REPO_ROOT, "test", "fixtures", "native-addon-small", f), join(pkg, f));
  // A package.json no earlier run had (a field npm ignores): the repository cache the test runs share (scripts/test.sh)
  // has no entry for it, so the fetch really compiles the addon, which is what these tests are about.
  const manifest = JSON.parse(
    readFileSync(join(REPO_ROOT, "test", "fixtures", "native-addon-small", "package.json"), "utf8"),
  );
  writeFileSync(join(pkg, "package.json"), `${JSON.stringify({ ...manifest, description: `run ${tmp}` }, null, 2)}\n`);
  writeFileSync(
    join(pkg, "BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

exports_files(["package.json", "package-lock.json"])

pipeline(
    name = "fx",
    base = "@pipeline-host-node//image",
    entry = "main.js",
    registry = "localhost:5000",
    repository = "native/fx",
    deps = ["@native_npm//:node_modules/fs-ext"],
)
`,
  );
});

afterAll(async () => {
  // A Bazel 7 test failed before the last one removed the server's output base (the chroot's wrapper refuses "4").
  if (ws && bazel7Up) {
    rmSync(join(ws, ".bazelversion"), { force: true });
    await shutdown7(ws, { expunge: true }).catch(() => undefined);
  }
  if (ws) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("npm packages with install scripts (native addons)", () => {
  test("not in allow_install_scripts: the fetch fails naming the package and the attribute", async () => {
    setWorkspace("");
    const r = await bazel(ws, ["build", "//native:fx_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('npm_dependencies(name = "native_npm")');
    expect(r.stderr).toContain("fs-ext (node_modules/fs-ext: install script");
    expect(r.stderr).toContain("`allow_install_scripts`");
    expect(r.stderr).toContain("`ignore_install_scripts`");
    // esbuild (the tools' lockfile) is a known-harmless one: not named.
    expect(r.stderr).not.toMatch(/^\s+esbuild \(/m);
  });

  test("package_json and lockfile in a directory with no BUILD file: the fetch fails saying to add one (README's quick start)", async () => {
    // README's quick start ("Three things a first build trips over"): npm_dependencies needs the package.json's directory to be a Bazel package.
    const bare = join(ws, "nobuild");
    mkdirSync(bare, { recursive: true });
    for (const f of ["package.json", "package-lock.json"]) cpSync(join(ws, "native", f), join(bare, f));
    const path = join(ws, "WORKSPACE");
    const text = readFileSync(path, "utf8");
    const start = text.indexOf('\nnpm_dependencies(\n    name = "native_npm"');
    writeFileSync(
      path,
      `${start >= 0 ? text.slice(0, start) : text}\nnpm_dependencies(\n    name = "native_npm",\n    package_json = "//nobuild:package.json",\n    lockfile = "//nobuild:package-lock.json",\n)\n`,
    );
    const r = await bazel(ws, ["build", "//native:fx_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Unable to load package for //nobuild:package.json: BUILD file not found");
    expect(r.stderr).toContain("Add a BUILD file to a directory to mark it as a package.");
  });

  test("no BUILD file, on Bazel 7.7.1 (it has repository_ctx.workspace_root): npm_dependencies says so, naming the attribute", async () => {
    // The WORKSPACE of the test above; the chroot's Bazel wrapper does not take .bazelversion's "4".
    await ensureBazel7();
    const version = join(ws, ".bazelversion");
    renameSync(version, `${version}.4`);
    bazel7Up = true;
    try {
      const r = await bazel7(ws, ["build", ...WORKSPACE_MODE_FLAGS, "//native:fx_local"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /npm_dependencies\(name = "native_npm"\): `package_json` @{0,2}\/\/nobuild:package\.json is in \S+\/nobuild, which has no BUILD file: add a BUILD\.bazel there with exports_files\(\["package\.json", "package-lock\.json"\]\)/,
      );
    } finally {
      // Its server stays up for the other Bazel 7 test below (one server start, its repositories fetched once);
      // that test, or afterAll, removes its output base.
      renameSync(`${version}.4`, version);
    }
  });

  test("a typo in allow_install_scripts fails naming the attribute and the value", async () => {
    setWorkspace('    allow_install_scripts = ["fs_ext"],\n');
    const r = await bazel(ws, ["build", "//native:fx_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('`allow_install_scripts` entry "fs_ext" is not a package of //native:package-lock.json');
  });

  test("listed: built from source at fetch time, and its flock works in _local", async () => {
    setWorkspace('    allow_install_scripts = ["fs-ext"],\n');
    const r = await bazel(ws, ["run", ...QUIET, "//native:fx_local"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("fs-ext flock function");
    // Only the addons are kept of build/: no object files or Makefiles in the repository.
    const out = (await bazel(ws, ["info", "output_base"])).stdout.trim();
    const build = join(out, "external", "native_npm", "node_modules", "fs-ext", "build");
    expect(readdirSync(build)).toEqual(["Release"]);
    expect(readdirSync(join(build, "Release"))).toEqual(["fs_ext.node"]);
  });

  test("listed: the built addon is in the image, and works there under runc", async () => {
    const r = await bazel(ws, ["build", "//native:fx_image"]);
    expect(r.code, r.stderr).toBe(0);
    const run = runLayoutImage(join(ws, "bazel-bin", "native", "fx_image"));
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout.trim()).toBe("fs-ext flock function");
  });

  test("listed, on Bazel 7.7.1 in scripts/bazel7.sh's chroot: node-gyp finds Node's headers offline (npm's nodedir)", async () => {
    // Before, the chroot had no Node headers and no nodedir: node-gyp went for the network and failed
    // ("gyp ... is related to network connectivity").
    setWorkspace('    allow_install_scripts = ["fs-ext"],\n');
    await ensureBazel7();
    const version = join(ws, ".bazelversion");
    renameSync(version, `${version}.4`);
    try {
      const r = await bazel7(ws, ["run", ...WORKSPACE_MODE_FLAGS, ...QUIET, "//native:fx_local"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("fs-ext flock function");
    } finally {
      renameSync(`${version}.4`, version);
      await shutdown7(ws, { expunge: true });
      bazel7Up = false;
    }
  });

  test("ignore_install_scripts: installed without running them (the addon then is missing at run time)", async () => {
    setWorkspace('    ignore_install_scripts = ["fs-ext"],\n');
    const r = await bazel(ws, ["run", ...QUIET, "//native:fx_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/fs_ext\.node/);
  });
});
