import { defineConfig } from "vitest/config";

// Two projects: `unit` (fast, beside the code) and `e2e` (real registry, skopeo, runc, Bazel).
export default defineConfig({
  test: {
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
