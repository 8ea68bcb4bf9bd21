/**
 * A ts_library in another repository (`local_repository`, as a shared package of a second monorepo is) compiles in
 * the TsCompile persistent worker, and its compile errors name it by its `@repo//` label. The label is a line of the
 * worker's flag file that starts with `@`: Bazel expands such lines as further flag files unless they look like an
 * external label (`@x//…`), which this checks on the Bazel 4.2.3 users run (no test built another repository's
 * ts_library before).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bazel, discard, makeConsumerWorkspace } from "../fixtures/bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-external-ts-"));
const shared = join(tmp, "shared_ts");
let ws: string;

beforeAll(() => {
  mkdirSync(shared, { recursive: true });
  writeFileSync(join(shared, "WORKSPACE"), 'workspace(name = "shared_ts")\n');
  writeFileSync(
    join(shared, "BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "ts_library")

ts_library(
    name = "lib",
    srcs = ["index.ts"],
    module_name = "@acme/shared",
    visibility = ["//visibility:public"],
)
`,
  );
  writeFileSync(join(shared, "index.ts"), "export const answer: number = 42;\n");
  ws = makeConsumerWorkspace(tmp, `local_repository(name = "shared_ts", path = ${JSON.stringify(shared)})\n`, {
    diskCache: false,
  });
});

afterAll(async () => {
  if (ws) await discard(ws);
  rmSync(tmp, { recursive: true, force: true });
});

describe("a ts_library in another repository", () => {
  test("compiles in the worker, and its errors name it by its @repo label", async () => {
    const ok = await bazel(ws, ["build", "@shared_ts//:lib"]);
    expect(ok.stderr).not.toMatch(/No such file|NoSuchFileException/);
    expect(ok.code, ok.stderr.slice(-3000)).toBe(0);
    expect(ok.stderr).toMatch(/\d+ worker/);
    const out = join(ws, "bazel-bin", "external", "shared_ts", "index.js");
    expect(readFileSync(out, "utf8")).toContain("answer = 42");

    writeFileSync(join(shared, "index.ts"), 'export const answer: number = "forty-two";\n');
    const bad = await bazel(ws, ["build", "@shared_ts//:lib"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("error TS2322");
    expect(bad.stderr).toContain("@shared_ts//:lib");
  }, 900_000);
});
