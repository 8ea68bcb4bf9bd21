/**
 * Issue #12's buildifier check: `buildifier --mode=check --lint=warn` over every tracked Starlark file (BUILD,
 * BUILD.bazel, WORKSPACE, MODULE.bazel, *.bzl — listed with `git ls-files`, so generated and ignored files such as
 * bazel-* symlinks, node_modules and bench/out are out) reports nothing: formatting and lint warnings both fail it,
 * with buildifier's own output. A warning that is a false positive is disabled on its line with
 * `# buildifier: disable=<name>` and a reason, never globally.
 *
 * The binary: $BUILDIFIER when set (a checkout without `npm ci`), else `node_modules/.bin/buildifier` from the
 * `@bazel/buildifier` dev dependency. The test is skipped, saying so, only when neither exists.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = join(__dirname, "..", "..");
const BUILDIFIER = process.env.BUILDIFIER || join(ROOT, "node_modules", ".bin", "buildifier");
const PATTERNS = ["*.bzl", "BUILD", "BUILD.bazel", "WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel"];

function starlarkFiles(): string[] {
  const r = spawnSync("git", ["ls-files", "-z", "--", ...PATTERNS.flatMap((p) => [p, `**/${p}`])], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`git ls-files failed: ${r.stderr}`);
  return [...new Set(r.stdout.split("\0").filter(Boolean))].sort();
}

const missing = !existsSync(BUILDIFIER);
if (missing)
  console.warn(
    `buildifier check skipped: no binary at ${BUILDIFIER} (run npm ci, or set BUILDIFIER=/path/to/buildifier)`,
  );

describe.skipIf(missing)("buildifier", () => {
  test("--mode=check --lint=warn reports nothing for the repository's Starlark files", () => {
    const files = starlarkFiles();
    // The files this check is about must be among them (a broken pattern would make the test vacuous).
    expect(files).toEqual(
      expect.arrayContaining([
        "BUILD.bazel",
        "WORKSPACE",
        "MODULE.bazel",
        "bazel/pipeline.bzl",
        "examples/hello/BUILD.bazel",
      ]),
    );
    const r = spawnSync(BUILDIFIER, ["--mode=check", "--lint=warn", ...files], { cwd: ROOT, encoding: "utf8" });
    expect(r.error).toBeUndefined();
    const report = `${r.stdout}${r.stderr}`.trim();
    expect(
      report,
      `buildifier reported (fix with buildifier --mode=fix, or by hand for lint warnings):\n${report}`,
    ).toBe("");
    expect(r.status, report).toBe(0);
  });
});
