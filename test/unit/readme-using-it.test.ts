/**
 * The claims of README's quick start notes ("Three things a first build trips over", issue #21 item 9), each against what it is about. The one on
 * `package_json` in a directory with no BUILD file is in test/e2e/bazel-native-addon.test.ts (it takes a Bazel run);
 * that `@pipeline-host-node//image` builds with no registry is what every e2e Bazel test here does (no Docker Hub).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const readme = read("README.md");
const usingIt = readme.slice(
  readme.indexOf("\n## Quick start (bzlmod)\n"),
  readme.indexOf("\n## In a rules_js + rules_oci workspace\n"),
);
/** The section's prose with line breaks as spaces. */
const prose = usingIt.replace(/\s+/g, " ");

describe("README's quick start", () => {
  test("is where this test looks for it", () => {
    expect(usingIt).toContain("Three things a first build trips over");
  });

  test("the main BUILD snippet uses the host-node base, and says where the worker base comes from", () => {
    const build = /```starlark\n# BUILD\.bazel\n([\s\S]*?)```/.exec(usingIt)?.[1] ?? "";
    expect(build).toMatch(/^ {4}base = "@pipeline-host-node\/\/image",/m);
    // "pulled from Docker Hub (`index.docker.io`)": the registry the worker bases are pinned to.
    expect(prose).toContain("pulled from Docker Hub (`index.docker.io`)");
    const bases = read("bazel/private/repositories/bases.bzl");
    expect(bases).toMatch(/^WORKER_BASE = struct\(registry = "index\.docker\.io"/m);
    expect(bases).toMatch(/^WORKER_CUDA = struct\(registry = "index\.docker\.io"/m);
    // The three ways to name a mirror exist.
    expect(read("bazel/private/repositories/extension_logic.bzl")).toMatch(/"base_mirror": attr\.string\(/);
    expect(read("bazel/pipeline.bzl")).toMatch(/^def base_images\(mirror = None\b/m);
    expect(read("bazel/private/repositories/repository_cli.bzl")).toMatch(/PULL_ENVIRON = \[[^\]]*ENV\.BASE_MIRROR\b/);
    expect(read("bazel/private/common/environment.bzl")).toMatch(/^ {4}BASE_MIRROR = "PIPELINE_BASE_MIRROR",$/m);
  });

  // Skipped where there is no Debian Bazel (the file is what the claim is about).
  test.skipIf(!existsSync("/etc/bazel/bazelrc"))(
    "Debian's /etc/bazel/bazelrc turns on --sandbox_debug for every workspace",
    () => {
      expect(prose).toContain("ships `/etc/bazel/bazelrc` with `build --sandbox_debug`");
      expect(prose).toContain("Add `build --nosandbox_debug`");
      expect(readFileSync("/etc/bazel/bazelrc", "utf8")).toMatch(/^build --sandbox_debug$/m);
    },
  );
});
