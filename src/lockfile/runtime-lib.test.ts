import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { runtimeLibrary } from "./runtime-lib";

const REPO = join(__dirname, "..", "..");

test("from sources, the runtime library is what the rules' TsTranspile program writes, and no temporary directory stays", () => {
  const before = readdirSync(tmpdir()).filter((n) => n.startsWith("rp-runtime-lib-"));
  const lib = runtimeLibrary();
  expect(readdirSync(tmpdir()).filter((n) => n.startsWith("rp-runtime-lib-"))).toEqual(before);
  // What `@rules_pipeline//:runtime_transpile` runs (bazel/private/ts_transpile.bzl), run here by hand.
  const dir = mkdtempSync(join(tmpdir(), "rp-runtime-lib-test-"));
  try {
    const r = spawnSync(
      process.execPath,
      [
        join(REPO, "bazel", "private", "ts_transpile.js"),
        require.resolve("typescript"),
        join(REPO, "src", "runtime", "index.ts"),
        join(dir, "index.js"),
        join(dir, "index.d.ts"),
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(lib.toString("utf8")).toBe(readFileSync(join(dir, "index.js"), "utf8"));
    expect(lib.toString("utf8")).toMatch(/^"use strict";\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
