/**
 * The workspace's TypeScript 7 and ES modules on Bazel 7.7.1 with bzlmod (scripts/bazel7.sh's chroot): the same
 * consumer as test/e2e/bazel-typescript.test.ts (test/fixtures/esm-workspace.ts), its compiler named by
 * `pipeline.config(typescript = ...)` and its npm repositories by `pipeline.npm(...)`. The library and the pipeline
 * compile to ES modules with TypeScript 7 (its native compiler in the chroot), the per-target TypeScript 6 to
 * CommonJS, sandboxed and in the worker alike; `_local` runs the pipeline and sees an edit of the library, and its
 * image runs it under runc.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { discard, QUIET } from "../fixtures/bazel";
import { bazel7, ensureBazel7, failure, shutdown7 } from "../fixtures/bazel7";
import { writeEsmWorkspace } from "../fixtures/esm-workspace";
import { runLayoutImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-typescript-"));
const ws = join(tmp, "ws");

beforeAll(async () => {
  await ensureBazel7();
  writeEsmWorkspace(ws, "bzlmod");
}, 1_800_000);

afterAll(async () => {
  await shutdown7(ws, { expunge: true });
  discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

const bin = (rel: string) => readFileSync(join(ws, "bazel-bin", rel), "utf8");

describe("the workspace's TypeScript 7 and ES modules (Bazel 7.7.1, bzlmod)", () => {
  test("pipeline.config(typescript = ...): ES modules with TypeScript 7; the target's TypeScript 6 gives CommonJS", async () => {
    const r = await bazel7(ws, ["build", "--noenable_workspace", "//lib", "//app:app_app", "//app:six"]);
    expect(r.code, failure("build", r)).toBe(0);
    expect(bin("lib/index.js")).toBe('export { double } from "./math.js";\n');
    const main = bin("app/main.js");
    expect(main).toContain('import pLimit from "p-limit";');
    expect(main).toContain("await limit(");
    expect(bin("app/six.js")).toContain('require("node:path")');
    const sandboxed = await bazel7(ws, [
      "build",
      "--noenable_workspace",
      "--strategy=TsCompile=sandboxed",
      "//lib",
      "//app:app_app",
    ]);
    expect(sandboxed.code, failure("build, sandboxed", sandboxed)).toBe(0);
    expect(bin("app/main.js")).toBe(main);
  });

  test("_local runs the ES module pipeline; an edit of the library is seen", async () => {
    const first = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//app:app_local"]);
    expect(first.code, failure("run //app:app_local", first)).toBe(0);
    expect(first.stdout).toContain("esm: 42 from an ES module image=false");
    writeFileSync(join(ws, "lib", "math.ts"), "export function double(n: number): number {\n  return n * 2 + 1;\n}\n");
    const edited = await bazel7(ws, ["run", "--noenable_workspace", ...QUIET, "//app:app_local"]);
    expect(edited.code, failure("run //app:app_local after the edit", edited)).toBe(0);
    expect(edited.stdout).toContain("esm: 43 from an ES module");
  });

  test("its image runs the ES module pipeline under runc", async () => {
    const r = await bazel7(ws, ["build", "--noenable_workspace", "//app:app_image"]);
    expect(r.code, failure("build //app:app_image", r)).toBe(0);
    const img = runLayoutImage(join(ws, "bazel-bin", "app", "app_image"));
    expect(img.code, img.stderr).toBe(0);
    expect(img.stdout).toContain("esm: 43 from an ES module");
  });
});
