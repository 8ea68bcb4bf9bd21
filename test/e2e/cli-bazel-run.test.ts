/**
 * `bazel run @rules_pipeline//:pipeline -- <command>` from a consumer workspace (issue #11): the CLI target prints the
 * version, and relative paths in its arguments are the caller's (the directory `bazel run` was started from, not the
 * runfiles tree Bazel starts programs in).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { writeLayout } from "../../src/layout/write";
import { VERSION } from "../../src/version";
import { bazel, QUIET } from "../fixtures/bazel";
import { randomImage } from "../fixtures/random-image";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-cli-bazel-"));
let ws: string;
let borrowed: Borrowed | undefined;

beforeAll(() => {
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
});

afterAll(async () => {
  await borrowed?.release();
  rmSync(tmp, { recursive: true, force: true });
});

test("bazel run @rules_pipeline//:pipeline -- --version prints the version", async () => {
  const r = await bazel(ws, ["run", ...QUIET, "@rules_pipeline//:pipeline", "--", "--version"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`^pipeline ${VERSION.replace(/\./g, "\\.")} `));
  // The runtime library `pipeline build --lockfile` puts into images sits beside the bundle in the runfiles.
  expect(
    existsSync(join(ws, "bazel-bin/external/rules_pipeline/pipeline.sh.runfiles/rules_pipeline/src/runtime/index.js")),
  ).toBe(true);
});

test("bazel run @rules_pipeline//:pipeline runs the CLI's commands from the V8 code cache: written by the first run, used by the next", async () => {
  // A command: `--version` loads only the bundle's first file, which is compiled without the cache
  // (test/e2e/cli-code-cache.test.ts); the commands' second file goes through it.
  const cacheDir = mkdtempSync(join(tmp, "cache-root-"));
  const lines = [];
  for (let i = 0; i < 2; i++) {
    const r = await bazel(ws, ["run", ...QUIET, "@rules_pipeline//:pipeline", "--", "--debug", "completion", "bash"], {
      PIPELINE_CACHE_DIR: cacheDir,
    });
    expect(r.code, r.stderr).toBe(0);
    lines.push(r.stderr.split("\n").filter((l) => l.startsWith("debug: code cache: ")));
  }
  const files = readdirSync(join(cacheDir, "code-cache"));
  expect(files).toHaveLength(1);
  const path = join(cacheDir, "code-cache", files[0]);
  expect(lines).toEqual([
    [`debug: code cache: miss ${path}: none yet`, `debug: code cache: written ${path}`],
    [`debug: code cache: hit ${path}`],
  ]);
});

test("bazel run @rules_pipeline//:pipeline -- inspect oci:RELATIVE reads the layout beside the caller", async () => {
  const image = randomImage({ layers: 1 });
  await writeLayout(join(ws, "layout"), image, { refName: "latest" });
  const r = await bazel(ws, ["run", ...QUIET, "@rules_pipeline//:pipeline", "--", "inspect", "oci:layout"]);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).digest).toMatch(/^sha256:[0-9a-f]{64}$/);
});
