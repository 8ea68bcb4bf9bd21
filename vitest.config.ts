import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The real-cluster tests (test/e2e/k8s-real-*.test.ts) run last: on a fresh machine they wait for the Kubernetes
 * build that scripts/test.sh starts in the background, which then overlaps with every other test file.
 */
class RealClusterLast extends BaseSequencer {
  async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const k8s = (f: TestSpecification) => /k8s-real-[^/]*\.test\.ts$/.test(f.moduleId);
    return [...sorted.filter((f) => !k8s(f)), ...sorted.filter(k8s)];
  }
}

// Two projects: `unit` (fast, beside the code) and `e2e` (real registry, skopeo, runc, Bazel).
export default defineConfig({
  test: {
    sequence: { sequencer: RealClusterLast },
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 900_000,
          hookTimeout: 600_000,
          // Bazel servers and registries are heavy on a 2-core machine: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
