/**
 * scripts/test.sh runs the e2e files in lanes by vitest project (README, "Developing rules_pipeline"): every e2e file is
 * in exactly one e2e project, a file that drives Bazel (imports a fixture that starts it) is in `e2e-bazel`, the
 * real-cluster files in `e2e-cluster`, and the rest in `e2e`, beside the Bazel lane.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import config from "../../vitest.config";

const ROOT = join(__dirname, "..", "..");
const E2E = join(ROOT, "test", "e2e");

function includes(name: string): string[] {
  const projects = config.test?.projects ?? [];
  for (const p of projects) {
    if (typeof p === "object" && p !== null && "test" in p && p.test?.name === name) return [...(p.test.include ?? [])];
  }
  throw new Error(`vitest.config.ts has no project ${name}`);
}

describe("the e2e lanes (vitest projects)", () => {
  const files = readdirSync(E2E).filter((f) => f.endsWith(".test.ts"));
  const lanes = { e2e: includes("e2e"), "e2e-bazel": includes("e2e-bazel"), "e2e-cluster": includes("e2e-cluster") };

  test("every e2e file is in exactly one lane", () => {
    const all = Object.values(lanes).flat();
    expect([...all].sort()).toEqual(files.map((f) => `test/e2e/${f}`).sort());
  });

  test("a file that starts Bazel runs in the Bazel lane, a real-cluster file in the cluster lane", () => {
    for (const f of files) {
      const text = readFileSync(join(E2E, f), "utf8");
      const lane = /^k8s-real-/.test(f)
        ? "e2e-cluster"
        : /from "\.\.\/fixtures\/(bazel|bazel7|monorepo|worker-fuzz-bazel)"/.test(text)
          ? "e2e-bazel"
          : "e2e";
      expect(lanes[lane], f).toContain(`test/e2e/${f}`);
    }
    // The lanes are not empty by accident: today's Bazel and cluster files are where they belong.
    expect(lanes["e2e-bazel"]).toContain("test/e2e/bazel7-bzlmod.test.ts");
    expect(lanes["e2e-cluster"]).toContain("test/e2e/k8s-real-run.test.ts");
    expect(lanes.e2e).toContain("test/e2e/registry-client.test.ts");
  });
});
