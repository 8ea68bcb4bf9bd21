import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * How long each test file took in a recent full run (seconds; written by `PIPELINE_TEST_DURATIONS_OUT=test/durations.json
 * npm test`, scripts/lib/test-report.js). Only the order of the run depends on it, never a result.
 */
const DURATIONS_FILE = join(__dirname, "test", "durations.json");
const durations: Record<string, number> = existsSync(DURATIONS_FILE)
  ? JSON.parse(readFileSync(DURATIONS_FILE, "utf8"))
  : {};

/** A file's expected seconds: its recorded duration, or, for a file the record does not know yet, more than any. */
export function expectedSeconds(file: string): number {
  const known = durations[relative(__dirname, file)];
  return known ?? Number.MAX_SAFE_INTEGER - statSync(file).size;
}

/**
 * scripts/test.sh runs the e2e files in one pool (the machine's cores + 1 workers; the unit files in one worker beside
 * it), so the order is what decides how evenly the cores stay busy: the longest first (a new file counts as the longest), the short ones
 * filling in at the end. The real-cluster files (project e2e-cluster) run in a vitest run of their own beside that
 * pool, one at a time: one cluster per machine, and they wait for the Kubernetes build that test.sh starts in the
 * background.
 */
export function longestFirst(files: string[]): string[] {
  const k8s = (f: string) => /k8s-real-[^/]*\.test\.ts$/.test(f);
  const sorted = [...files].sort((a, b) => expectedSeconds(b) - expectedSeconds(a));
  return [...sorted.filter((f) => !k8s(f)), ...sorted.filter(k8s)];
}

class LongestFirst extends BaseSequencer {
  async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const order = longestFirst(files.map((f) => f.moduleId));
    return [...files].sort((a, b) => order.indexOf(a.moduleId) - order.indexOf(b.moduleId));
  }
}

/** Each file's CPU time for scripts/test.sh's report (a cgroup per file; nothing without $PIPELINE_TEST_CPU_CGROUP). */
const CPU_PER_FILE = join(__dirname, "test", "fixtures", "cpu-per-file.ts");
/** What a unit file must not inherit from the file before it in the same worker (below, `isolate: false`). */
const UNIT_FILE_STATE = join(__dirname, "test", "fixtures", "unit-file-state.ts");
/**
 * What every test file starts with: no resident push daemon (src/cli/push-daemon/) is used or left running by the pushes
 * tests make; test/e2e/push-daemon.test.ts turns it on for its own.
 */
const ENV = { PIPELINE_PUSH_DAEMON: "0" };

// Three projects: `unit` (fast, beside the code; `npm run test:quick`), `e2e` (real registry, skopeo, runc, podman,
// git, Bazel 4.2.3 and 7.7.1, the benchmarks' smoke run) and `e2e-cluster` (a real Kubernetes cluster).
export default defineConfig({
  test: {
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/unit/**/*.test.ts"],
          environment: "node",
          env: ENV,
          // scripts/test.sh runs this project with --no-isolate (one worker process runs file after file: a new
          // process and module graph per file cost ~40 of the project's ~250 core-seconds; vitest decides isolation
          // for a whole run, not per project); test/fixtures/unit-file-state.ts resets what one file could leave for
          // the next.
          setupFiles: [CPU_PER_FILE, UNIT_FILE_STATE],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          exclude: ["test/e2e/k8s-real-*.test.ts"],
          environment: "node",
          env: ENV,
          setupFiles: [CPU_PER_FILE],
          testTimeout: 900_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: "e2e-cluster",
          include: ["test/e2e/k8s-real-*.test.ts"],
          environment: "node",
          env: ENV,
          setupFiles: [CPU_PER_FILE],
          testTimeout: 900_000,
          hookTimeout: 600_000,
          // One cluster per machine (the kubelet owns the host's /kubepods cgroups): scripts/test.sh runs these files
          // one at a time (--no-file-parallelism; vitest takes that setting for a whole run, not per project), all on
          // one cluster that this set-up starts before the first and stops after the last (only when one of these
          // files is to run); each file gives back what it changed (test/fixtures/k8s-cluster.ts clusterForFile).
          globalSetup: [join(__dirname, "test", "fixtures", "k8s-cluster-setup.ts")],
        },
      },
    ],
  },
});
