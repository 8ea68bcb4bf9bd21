/**
 * Issue #12's release check: scripts/release.sh makes the release archive from a commit of this checkout's files (a
 * temporary repository, so uncommitted changes are tested too), twice, byte-identically; a consumer workspace then
 * installs rules_pipeline as a user does, with the `http_archive(url = "file://…", sha256 = …, strip_prefix = …)`
 * snippet the script printed (not local_repository), builds examples/hello's image and runs `hello_local`. A wrong
 * sha256 fails with Bazel's checksum error. The MODULE.bazel snippet (archive_override) runs on Bazel 7.7.1 in
 * test/e2e/bazel7-bzlmod.test.ts.
 * The archive holds the rules' own tools prebuilt (prebuilt/): the consumer's build runs none of their actions
 * (no JsBundle or TsTranspile of an @rules_pipeline target in `bazel aquery`), and @rules_pipeline_tools links the
 * prebuilt CLI instead of bundling src/ at fetch time. A checkout builds them from source
 * (test/e2e/bazel-undeclared.test.ts).
 */
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BAZEL, QUIET, REPO_ROOT, bazel, discard } from "../fixtures/bazel";
import { ownLayers, pinnedHelloLayers } from "../fixtures/pinned-image";
import { makeRelease, RELEASE_NAME, RELEASE_VERSION, run } from "../fixtures/release";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-release-"));
const clone = join(tmp, "clone");
const ws = join(tmp, "consumer");
const repoCache = join(tmp, "repository-cache");
const VERSION = RELEASE_VERSION;
const NAME = RELEASE_NAME;
let snippets = "";

/** The WORKSPACE snippet the script printed: from `load(...http.bzl...)` to the closing `)` of http_archive. */
function workspaceSnippet(): string {
  const m = snippets.match(
    /load\("@bazel_tools\/\/tools\/build_defs\/repo:http\.bzl", "http_archive"\)\n\nhttp_archive\([\s\S]*?\n\)\n/,
  );
  if (!m) throw new Error(`release.sh printed no http_archive snippet:\n${snippets}`);
  return m[0];
}

function writeConsumer(httpArchive: string): void {
  writeFileSync(
    join(ws, "WORKSPACE"),
    `workspace(name = "consumer")

${httpArchive}
load("@rules_pipeline//bazel:repositories.bzl", "npm_dependencies", "pipeline_dependencies")

pipeline_dependencies()

load("@rules_pipeline//bazel:pipeline.bzl", "base_images")

base_images()

npm_dependencies(name = "npm", package_json = "//examples:package.json", lockfile = "//examples:package-lock.json")
`,
  );
}

beforeAll(() => {
  snippets = makeRelease(clone, join(tmp, "dist"));
  mkdirSync(join(ws, "examples"), { recursive: true });
  cpSync(join(REPO_ROOT, "examples", "hello"), join(ws, "examples", "hello"), { recursive: true });
  for (const f of ["package.json", "package-lock.json", "BUILD.bazel"])
    cpSync(join(REPO_ROOT, "examples", f), join(ws, "examples", f));
  writeFileSync(join(ws, "BUILD.bazel"), "");
  writeFileSync(
    join(ws, ".bazelrc"),
    `build --nosandbox_debug\nbuild --incompatible_strict_action_env\ncommon --repository_cache=${repoCache}\n`,
  );
  writeFileSync(join(ws, ".bazelversion"), "4\n");
});

afterAll(async () => {
  if (existsSync(join(ws, "WORKSPACE"))) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("the release archive (scripts/release.sh)", () => {
  test("is reproducible, and holds what consumers need and no development files", () => {
    const archive = join(tmp, "dist", `${NAME}.tar.gz`);
    spawnSync("sleep", ["1.1"]); // a second later: nothing time-dependent may reach the archive
    run("bash", ["scripts/release.sh", VERSION, "--out", join(tmp, "dist2")], clone);
    expect(readFileSync(archive).equals(readFileSync(join(tmp, "dist2", `${NAME}.tar.gz`)))).toBe(true);
    const sha256 = require("node:crypto").createHash("sha256").update(readFileSync(archive)).digest("hex");
    expect(readFileSync(`${archive}.sha256`, "utf8")).toBe(`${sha256}  ${NAME}.tar.gz\n`);
    expect(snippets).toContain(`sha256 = "${sha256}"`);
    expect(snippets).toContain(`integrity = "sha256-${Buffer.from(sha256, "hex").toString("base64")}"`);
    expect(snippets).toMatch(
      new RegExp(`archive_override\\(\\n    module_name = "rules_pipeline",[\\s\\S]*strip_prefix = "${NAME}"`),
    );

    const entries = run("tar", ["tzf", archive], tmp).split("\n").filter(Boolean);
    expect(entries.every((e) => e.startsWith(`${NAME}/`))).toBe(true);
    const paths = entries.map((e) => e.slice(NAME.length + 1));
    for (const needed of [
      "MODULE.bazel",
      "WORKSPACE",
      "BUILD.bazel",
      "package.json",
      "tsconfig.json",
      "bazel/extensions.bzl",
      "bazel/private/repositories/extension_logic.bzl",
      "bazel/npm/package-lock.json",
      "tools/pipeline.ts",
      "src/oci/digest.ts",
      "prebuilt/pipeline_cli.js",
      "prebuilt/pipeline_cli.lazy.js",
      "prebuilt/pipeline_loader.js",
      "prebuilt/pipeline_preload.js",
      "prebuilt/tsc_worker.js",
      "prebuilt/tsc_snapshot.js",
      "bootstrap/npm_guard.js",
      "bootstrap/esbuild_bundle.js",
      "prebuilt/src/runtime/index.js",
      "prebuilt/src/runtime/index.d.ts",
      "prebuilt/modules/@aws-sdk/client-secrets-manager/index.js",
      "prebuilt/modules/@kubernetes/client-node/index.js",
    ]) {
      expect(paths, needed).toContain(needed);
    }
    const dev = paths.filter((p) =>
      /^(test|bench|examples|scripts|packages|\.ci)\/|\.test\.ts$|^\.bazelrc$|^vitest\.config\.ts$/.test(p),
    );
    expect(dev).toEqual([]);
  });

  test("a consumer installs it through http_archive(file://…, sha256) and builds and runs a pipeline", async () => {
    const snippet = workspaceSnippet();
    expect(snippet).toContain(`"file://${join(tmp, "dist")}/${NAME}.tar.gz"`);
    writeConsumer(snippet);
    const image = await bazel(ws, ["build", "//examples/hello:hello_image"]);
    expect(image.code, image.stderr).toBe(0);
    expect(readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8")).toMatch(
      /^sha256:[a-f0-9]{64}$/,
    );
    // The archive's prebuilt tools give the image's own layers a checkout gives (pinned: test/fixtures/pinned-image.ts).
    expect(ownLayers(join(ws, "bazel-bin/examples/hello/hello_image"))).toEqual(pinnedHelloLayers("examples/hello"));
    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_local", "--", "1", "2"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("HELLO FROM A PIPELINE");
    expect(r.stdout).toContain('args: ["1","2"] sum: 3');
    // It is the archive, not a checkout: the external repository has no tests.
    const external = join(run(BAZEL, ["info", "output_base"], ws).trim(), "external", "rules_pipeline");
    expect(existsSync(join(external, "bazel", "pipeline.bzl"))).toBe(true);
    expect(existsSync(join(external, "test"))).toBe(false);

    // None of our tools' actions: the targets are the prebuilt files.
    const targets = "deps(//examples/hello:hello_image) union deps(//examples/hello:hello_local)";
    const aquery = await bazel(ws, ["aquery", "--output=jsonproto", targets]);
    expect(aquery.code, aquery.stderr).toBe(0);
    const graph: { actions?: { mnemonic: string; targetId: number }[]; targets?: { id: number; label: string }[] } =
      JSON.parse(aquery.stdout);
    const labels = new Map((graph.targets ?? []).map((t) => [t.id, t.label]));
    const ours = (graph.actions ?? [])
      .map((a) => `${a.mnemonic} ${labels.get(a.targetId)}`)
      .filter((a) => /^\S+ @rules_pipeline\/\//.test(a));
    // Nor the compiler snapshot's (TsSnapshot), which only `--@rules_pipeline//bazel:tsc_snapshot` asks for.
    expect(ours.filter((a) => /^(JsBundle|TsTranspile|TsSnapshot) /.test(a))).toEqual([]);
    expect((graph.actions ?? []).length).toBeGreaterThan(0);
    // And no fetch-time bundle: @rules_pipeline_tools links the archive's CLI and modules, and esbuild never ran.
    const tools = join(external, "..", "rules_pipeline_tools");
    for (const f of [
      "pipeline_cli.js",
      "pipeline_cli.lazy.js",
      "modules/@aws-sdk/client-secrets-manager/index.js",
      "modules/@kubernetes/client-node/index.js",
    ])
      expect(realpathSync(join(tools, f)), f).toBe(realpathSync(join(external, "prebuilt", f)));
    expect(existsSync(join(tools, "bundle.params"))).toBe(false);
    // So the packages that build the tools (esbuild, the AWS SDK, the Kubernetes client) were never fetched: the
    // rules' npm tree is the compiler and Node's types.
    expect(existsSync(join(external, "..", "rules_pipeline_tools_npm"))).toBe(false);
    expect(
      readdirSync(join(external, "..", "rules_pipeline_npm", "node_modules"))
        .filter((n) => !n.startsWith("."))
        .sort(),
    ).toEqual(["@types", "typescript", "undici-types"]);
  });

  test("a wrong sha256 fails with Bazel's checksum error", async () => {
    const wrong = "0".repeat(64);
    writeConsumer(workspaceSnippet().replace(/sha256 = "[a-f0-9]{64}"/, `sha256 = "${wrong}"`));
    const r = await bazel(ws, ["build", "//examples/hello:hello_local"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Checksum was [a-f0-9]{64} but wanted 0{64}/);
  });
});
