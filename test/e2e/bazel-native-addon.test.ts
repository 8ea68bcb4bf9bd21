/**
 * Issue #12, defect 9: a package with install scripts (a native addon, better-sqlite3) in a consumer's lockfile.
 * - not listed in `allow_install_scripts`: the fetch fails naming the package and the attribute (not "Could not
 *   locate the bindings file" at run time);
 * - listed: `npm rebuild better-sqlite3 --offline` compiles it from source at fetch time (node-gyp, npm's nodedir
 *   headers), and `new Database(":memory:")` works in `_local` and in the image under runc; on Bazel 7.7.1 too, in
 *   scripts/bazel7.sh's chroot (its setup gives node-gyp the host's Node headers through npm's nodedir), there with
 *   fs-ext, a small addon (one C++ file, seconds to compile, where better-sqlite3's SQLite takes a minute of CPU):
 *   what that test checks is the chroot's node-gyp set-up, which any addon exercises.
 * The npm registry must be reachable (or npm's cache warm); the compile takes a minute or two.
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

const NATIVE_NPM = (attrs: string) => `
npm_dependencies(
    name = "native_npm",
    package_json = "//native:package.json",
    lockfile = "//native:package-lock.json",
${attrs})
`;

/** The small addon's repository, for the Bazel 7 test: after native_npm (setWorkspace's `extra`). */
const NATIVE7_NPM = `
npm_dependencies(
    name = "native7_npm",
    package_json = "//native7:package.json",
    lockfile = "//native7:package-lock.json",
    allow_install_scripts = ["fs-ext"],
)
`;

/** The WORKSPACE with native_npm given `attrs`, then `extra`: what an earlier call added after native_npm goes. */
function setWorkspace(attrs: string, extra = ""): void {
  const path = join(ws, "WORKSPACE");
  const text = readFileSync(path, "utf8");
  const start = text.indexOf('\nnpm_dependencies(\n    name = "native_npm"');
  writeFileSync(path, (start >= 0 ? text.slice(0, start) : text) + NATIVE_NPM(attrs) + extra);
}

/**
 * A package of the workspace at `dir`: the fixture's package.json and lockfile (and main.js, unless `main` is given),
 * and a BUILD file with one pipeline `name` on the host-node base depending on `dep`.
 */
function addonPackage(dir: string, fixture: string, name: string, dep: string, main?: string): void {
  const pkg = join(ws, dir);
  mkdirSync(pkg);
  for (const f of ["package.json", "package-lock.json", ...(main ? [] : ["main.js"])])
    cpSync(join(REPO_ROOT, "test", "fixtures", fixture, f), join(pkg, f));
  if (main) writeFileSync(join(pkg, "main.js"), main);
  writeFileSync(
    join(pkg, "BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

exports_files(["package.json", "package-lock.json"])

pipeline(
    name = "${name}",
    base = "@pipeline-host-node//image",
    entry = "main.js",
    registry = "localhost:5000",
    repository = "native/${name}",
    deps = ["${dep}"],
)
`,
  );
}

beforeAll(() => {
  ws = makeConsumerWorkspace(tmp);
  addonPackage(
    "native",
    "native-addon",
    "sq",
    "@native_npm//:node_modules/better-sqlite3",
    `const Database = require("better-sqlite3");
const db = new Database(":memory:");
db.exec("create table t (x integer)");
db.prepare("insert into t values (?), (?)").run(40, 2);
console.log("sqlite " + db.prepare("select sqlite_version() as v").get().v + " sum " + db.prepare("select sum(x) as s from t").get().s);
`,
  );
  addonPackage("native7", "native-addon-small", "fx", "@native7_npm//:node_modules/fs-ext");
});

afterAll(() => {
  if (ws) discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("npm packages with install scripts (native addons)", () => {
  test("not in allow_install_scripts: the fetch fails naming the package and the attribute", async () => {
    setWorkspace("");
    const r = await bazel(ws, ["build", "//native:sq_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('npm_dependencies(name = "native_npm")');
    expect(r.stderr).toContain("better-sqlite3 (node_modules/better-sqlite3: install script");
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
    const r = await bazel(ws, ["build", "//native:sq_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Unable to load package for //nobuild:package.json: BUILD file not found");
    expect(r.stderr).toContain("Add a BUILD file to a directory to mark it as a package.");
  });

  test("no BUILD file, on Bazel 7.7.1 (it has repository_ctx.workspace_root): npm_dependencies says so, naming the attribute", async () => {
    // The WORKSPACE of the test above; the chroot's Bazel wrapper does not take .bazelversion's "4".
    await ensureBazel7();
    const version = join(ws, ".bazelversion");
    renameSync(version, `${version}.4`);
    try {
      const r = await bazel7(ws, ["build", ...WORKSPACE_MODE_FLAGS, "//native:sq_local"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /npm_dependencies\(name = "native_npm"\): `package_json` @{0,2}\/\/nobuild:package\.json is in \S+\/nobuild, which has no BUILD file: add a BUILD\.bazel there with exports_files\(\["package\.json", "package-lock\.json"\]\)/,
      );
    } finally {
      renameSync(`${version}.4`, version);
      await shutdown7(ws, { expunge: true });
    }
  });

  test("a typo in allow_install_scripts fails naming the attribute and the value", async () => {
    setWorkspace('    allow_install_scripts = ["better-sqlite"],\n');
    const r = await bazel(ws, ["build", "//native:sq_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '`allow_install_scripts` entry "better-sqlite" is not a package of //native:package-lock.json',
    );
  });

  test("listed: built from source at fetch time, and new Database(':memory:') works in _local", async () => {
    setWorkspace('    allow_install_scripts = ["better-sqlite3"],\n');
    const r = await bazel(ws, ["run", ...QUIET, "//native:sq_local"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/sqlite 3\.\d+\.\d+ sum 42/);
    // Only the addons are kept of build/: no object files or Makefiles in the repository.
    const out = (await bazel(ws, ["info", "output_base"])).stdout.trim();
    const build = join(out, "external", "native_npm", "node_modules", "better-sqlite3", "build");
    expect(readdirSync(build)).toEqual(["Release"]);
    expect(readdirSync(join(build, "Release")).sort()).toEqual(["better_sqlite3.node", "test_extension.node"]);
  });

  test("listed: the built addon is in the image, and works there under runc", async () => {
    const r = await bazel(ws, ["build", "//native:sq_image"]);
    expect(r.code, r.stderr).toBe(0);
    const run = runLayoutImage(join(ws, "bazel-bin", "native", "sq_image"));
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/sqlite 3\.\d+\.\d+ sum 42/);
  });

  test("listed, on Bazel 7.7.1 in scripts/bazel7.sh's chroot: node-gyp finds Node's headers offline (npm's nodedir)", async () => {
    // Before, the chroot had no Node headers and no nodedir: node-gyp went for the network and failed
    // ("gyp ... is related to network connectivity").
    setWorkspace('    allow_install_scripts = ["better-sqlite3"],\n', NATIVE7_NPM);
    await ensureBazel7();
    const version = join(ws, ".bazelversion");
    renameSync(version, `${version}.4`);
    try {
      const r = await bazel7(ws, ["run", ...WORKSPACE_MODE_FLAGS, ...QUIET, "//native7:fx_local"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("fs-ext flock function");
    } finally {
      renameSync(`${version}.4`, version);
      await shutdown7(ws, { expunge: true });
    }
  });

  test("ignore_install_scripts: installed without running them (the addon then is missing at run time)", async () => {
    setWorkspace('    ignore_install_scripts = ["better-sqlite3"],\n');
    const r = await bazel(ws, ["run", ...QUIET, "//native:sq_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Could not locate the bindings file");
  });
});
