import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
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

/**
 * The e2e files in three projects, so that scripts/test.sh can run two lanes at once on a 2-core machine:
 * - `e2e-bazel`: files that drive Bazel (they import a fixture that starts it: bazel.ts, bazel7.ts, monorepo.ts,
 *   worker-fuzz-bazel.ts). Bazel takes both cores, so these run one at a time.
 * - `e2e-cluster`: the real-cluster files (one cluster per machine: the kubelet owns the host's /kubepods cgroups).
 * - `e2e`: the rest (registry, CLI, credentials, runners, signatures), one at a time beside the Bazel lane.
 * The rule is read from each file's imports, so a new file lands in the right lane without a list to keep.
 */
const E2E_DIR = "test/e2e";
const DRIVES_BAZEL = /from "\.\.\/fixtures\/(bazel|bazel7|monorepo|worker-fuzz-bazel)"/;
const CLUSTER = /^k8s-real-.*\.test\.ts$/;
const e2eFiles = readdirSync(join(__dirname, E2E_DIR)).filter((f) => f.endsWith(".test.ts"));
const inLane = (pick: (name: string) => boolean) => e2eFiles.filter(pick).map((f) => `${E2E_DIR}/${f}`);
const drivesBazel = (f: string) => DRIVES_BAZEL.test(readFileSync(join(__dirname, E2E_DIR, f), "utf8"));

const e2eProject = (name: string, include: string[]) => ({
  test: {
    name,
    include,
    environment: "node" as const,
    testTimeout: 900_000,
    hookTimeout: 600_000,
    // Bazel servers and registries are heavy on a 2-core machine: one file at a time within a project.
    fileParallelism: false,
  },
});

// Four projects: `unit` (fast, beside the code; `npm run test:quick`) and the e2e lanes above (real registry, skopeo,
// runc, Bazel, a cluster).
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
      e2eProject(
        "e2e",
        inLane((f) => !CLUSTER.test(f) && !drivesBazel(f)),
      ),
      e2eProject(
        "e2e-bazel",
        inLane((f) => !CLUSTER.test(f) && drivesBazel(f)),
      ),
      e2eProject(
        "e2e-cluster",
        inLane((f) => CLUSTER.test(f)),
      ),
    ],
  },
});
