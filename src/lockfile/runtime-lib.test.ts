import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { runtimeFiles } from "./runtime-lib";
import { tscBundle } from "../../test/fixtures/tsc-bundle";

const REPO = join(__dirname, "..", "..");

test("from sources, the runtime library is what the rules' TsTranspile program writes for each file (the map worker's too), and no temporary directory stays", () => {
  const before = readdirSync(tmpdir()).filter((n) => n.startsWith("rp-runtime-lib-"));
  const files = runtimeFiles();
  expect(readdirSync(tmpdir()).filter((n) => n.startsWith("rp-runtime-lib-"))).toEqual(before);
  const sources = readdirSync(join(REPO, "src", "runtime")).filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts"));
  expect(files.map((f) => f.name)).toEqual(sources.map((n) => n.replace(/\.ts$/, ".js")).sort());
  expect(files.map((f) => f.name)).toContain("map-worker.js");
  // What `@rules_pipeline//:runtime_transpile` (and its siblings) run (bazel/private/typescript/ts_transpile.bzl), run here by hand.
  const dir = mkdtempSync(join(tmpdir(), "rp-runtime-lib-test-"));
  try {
    const r = spawnSync(
      process.execPath,
      [
        tscBundle("ts_transpile.js"),
        require.resolve("typescript"),
        ...files.flatMap((f) => [
          join(REPO, "src", "runtime", f.name.replace(/\.js$/, ".ts")),
          join(dir, f.name),
          join(dir, `${f.name}.d.ts`),
        ]),
      ],
      { encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    for (const f of files) {
      expect(f.content.toString("utf8")).toBe(readFileSync(join(dir, f.name), "utf8"));
      expect(f.content.toString("utf8")).toMatch(/^"use strict";\n/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
