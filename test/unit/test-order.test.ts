/**
 * How scripts/test.sh orders the run (docs/development.md): the e2e files share one pool of workers (cores + 1), the
 * longest first by test/durations.json (a file it does not know counts as the longest); the unit files run beside it in
 * one worker without isolation, each after test/fixtures/unit-file-state.ts; the real-cluster files form a project of
 * their own, one at a time.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import config, { expectedSeconds, longestFirst } from "../../vitest.config";
import { removeCgroup } from "../fixtures/cgroup";

const ROOT = join(__dirname, "..", "..");
const E2E = join(ROOT, "test", "e2e");

function project(name: string): { include: string[]; exclude: string[]; setupFiles: string[] } {
  for (const p of config.test?.projects ?? []) {
    if (typeof p === "object" && p !== null && "test" in p && p.test?.name === name)
      return {
        include: [...(p.test.include ?? [])],
        exclude: [...(p.test.exclude ?? [])],
        setupFiles: [p.test.setupFiles ?? []].flat(),
      };
  }
  throw new Error(`vitest.config.ts has no project ${name}`);
}

const tmp = mkdtempSync(join(tmpdir(), "rp-test-order-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the order of the test run", () => {
  test("the e2e project takes every e2e file but the real-cluster ones, which e2e-cluster takes", () => {
    const { include, exclude } = project("e2e");
    expect({ include, exclude }).toEqual({
      include: ["test/e2e/**/*.test.ts"],
      exclude: ["test/e2e/k8s-real-*.test.ts"],
    });
    expect(project("e2e-cluster").include).toEqual(["test/e2e/k8s-real-*.test.ts"]);
    expect(readdirSync(E2E).filter((f) => /^k8s-real-.*\.test\.ts$/.test(f)).length).toBeGreaterThan(0);
  });

  test("each unit file, in a worker shared with the files before it, starts from unit-file-state.ts's reset", () => {
    expect(project("unit").setupFiles).toContain(join(ROOT, "test", "fixtures", "unit-file-state.ts"));
  });

  test("test/durations.json names only files that exist", () => {
    const file = join(ROOT, "test", "durations.json");
    expect(existsSync(file)).toBe(true);
    for (const name of Object.keys(JSON.parse(readFileSync(file, "utf8"))))
      expect(existsSync(join(ROOT, name)), name).toBe(true);
  });

  test("longest first, a file with no recorded time before all, the real-cluster files last", () => {
    const durations: Record<string, number> = JSON.parse(readFileSync(join(ROOT, "test", "durations.json"), "utf8"));
    const ranked = Object.keys(durations)
      .filter((f) => !f.includes("k8s-real-"))
      .sort((a, b) => durations[b] - durations[a]);
    const [long, short] = [join(ROOT, ranked[0]), join(ROOT, ranked[ranked.length - 1])];
    const unknown = join(tmp, "new.test.ts"); // a file no run has recorded yet
    writeFileSync(unknown, "");
    const cluster = join(ROOT, "test", "e2e", "k8s-real-run.test.ts");
    expect(expectedSeconds(unknown)).toBeGreaterThan(expectedSeconds(long));
    expect(expectedSeconds(long)).toBeGreaterThan(expectedSeconds(short));
    expect(longestFirst([short, cluster, long, unknown])).toEqual([unknown, long, short, cluster]);
  });
});

test("a bad PIPELINE_TEST_WORKERS stops scripts/test.sh before anything runs, naming the variable and the value", () => {
  for (const bad of ["0", "two", "-1"]) {
    const r = spawnSync("bash", [join(ROOT, "scripts", "test.sh")], {
      env: { ...process.env, PIPELINE_TEST_WORKERS: bad },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status, bad).toBe(2);
    expect(r.stderr).toBe(`PIPELINE_TEST_WORKERS: expected a whole number ≥ 1, got '${bad}'\n`);
  }
});

// The report's CPU time per file (test/fixtures/cpu-per-file.ts): what a file starts counts for it, a daemonized
// process (as a Bazel server is) included, and the file's group is gone afterwards. Needs a writable cgroup v1 cpuacct
// hierarchy (root on this machine); without one, scripts/test.sh reports no CPU per file, and this test says why.
const CPUACCT = "/sys/fs/cgroup/cpuacct";
test("a file's CPU time counts the daemonized process it started, and its cgroup is removed", () => {
  const writable = spawnSync("sh", ["-c", `test -w ${CPUACCT}/cgroup.procs`]).status === 0;
  expect(writable, `${CPUACCT} is not writable: scripts/test.sh cannot measure CPU per file here`).toBe(true);
  const dir = mkdtempSync(join(tmp, "cpu-"));
  const group = mkdtempSync(join(CPUACCT, "rules_pipeline-test-order."));
  try {
    // The test starts a process that leaves its parent's session (setsid) and spins for 2 s of CPU, and waits for it
    // through a file it writes when done: on a machine as busy as a test run's (the e2e pool beside), 2 s of CPU can
    // take far more than vitest's default 5 s of wall, hence the timeouts.
    writeFileSync(
      join(dir, "burn.test.ts"),
      `import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
test("burn", async () => {
  const burn = 'const t = () => { const u = process.cpuUsage(); return u.user + u.system; }; while (t() < 2000000) {} require("node:fs").writeFileSync(${JSON.stringify(join(dir, "done"))}, "");';
  spawn("setsid", [process.execPath, "-e", burn], { detached: true, stdio: "ignore" }).unref();
  while (!existsSync("${dir}/done")) await new Promise((r) => setTimeout(r, 50));
}, 150_000);
`,
    );
    writeFileSync(
      join(dir, "vitest.config.mjs"),
      `export default { test: { globals: true, include: ["burn.test.ts"], setupFiles: [${JSON.stringify(join(ROOT, "test", "fixtures", "cpu-per-file.ts"))}] } };\n`,
    );
    const out = join(dir, "cpu.tsv");
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, "node_modules", "vitest", "vitest.mjs"),
        "run",
        "--config",
        join(dir, "vitest.config.mjs"),
        "--root",
        dir,
      ],
      {
        env: { ...process.env, PIPELINE_TEST_CPU_CGROUP: group, PIPELINE_TEST_CPU_OUT: out },
        encoding: "utf8",
        timeout: 170_000,
      },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const [line, ...rest] = readFileSync(out, "utf8").trim().split("\n");
    expect(rest).toEqual([]);
    const [seconds, file] = line.split("\t");
    expect(file.endsWith("burn.test.ts"), line).toBe(true);
    // The daemonized process spins until its own CPU time is 2 s (a fixed amount of work, however busy the machine):
    // the file's count holds it (without it, the file's own vitest worker, well under 2 s, would be all).
    expect(Number(seconds), line).toBeGreaterThanOrEqual(1.9); // 0.1 s for the report's rounding
    expect(readdirSync(group).filter((e) => e.startsWith("file-"))).toEqual([]);
  } finally {
    removeCgroup(group, CPUACCT);
  }
}, 180_000);
