/**
 * An interrupted `npm test` stops the Bazel servers its tests had started (scripts/lib/run-groups.sh
 * stop_bazel_servers, called by scripts/test.sh's cleanup after SIGTERM or SIGINT): a server is a daemon in a session
 * of its own, so stopping the run's process groups does not reach it, and a test's afterAll (discard) does not run
 * when the run is killed. Only output bases made after the run started go, and only a process whose command line
 * names that output base is signalled (a PID can be reused).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { ownerAlive } from "../../src/process/owner";
import { BAZEL, bazel, REPO_ROOT } from "../fixtures/bazel";

const tmp = mkdtempSync(join(tmpdir(), "rp-run-groups-bazel-"));
const root = join(tmp, "root");
const ws = join(tmp, "ws");
const stranger = spawn("sleep", ["300"], { stdio: "ignore" });
afterAll(() => {
  stranger.kill("SIGKILL");
  spawnSync(BAZEL, [`--output_user_root=${root}`, "shutdown"], { cwd: ws, timeout: 60_000 });
  spawnSync("chmod", ["-R", "u+w", tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

test("stop_bazel_servers stops the run's servers, removes their output bases and leaves older ones and other processes alone", async () => {
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(ws, "WORKSPACE"), "");
  writeFileSync(join(ws, "BUILD.bazel"), "");
  // An output base from before the run, and one of the run whose server is gone and whose PID file now names
  // another process (a reused PID).
  const older = join(root, "0123456789abcdef0123456789abcdef");
  const reused = join(root, "fedcba9876543210fedcba9876543210");
  for (const dir of [older, reused]) {
    mkdirSync(join(dir, "server"), { recursive: true });
    writeFileSync(join(dir, "DO_NOT_BUILD_HERE"), "/gone");
    writeFileSync(join(dir, "server", "server.pid.txt"), String(stranger.pid));
  }
  const started = join(tmp, "started");
  writeFileSync(started, "");
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(join(older, "DO_NOT_BUILD_HERE"), past, past);
  utimesSync(started, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

  const info = await bazel(ws, ["info", "output_base", "server_pid"], {}, [`--output_user_root=${root}`]);
  expect(info.code, info.stderr).toBe(0);
  const [base, pid] = info.stdout
    .trim()
    .split("\n")
    .map((l) => l.split(": ")[1]);
  expect(ownerAlive(Number(pid))).toBe(true);

  const sweep = spawnSync(
    "bash",
    [
      "-c",
      `source ${JSON.stringify(join(REPO_ROOT, "scripts/lib/run-groups.sh"))}; stop_bazel_servers "$1" "$2"`,
      "sweep",
      started,
      root,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  expect(sweep.status, sweep.stderr).toBe(0);
  expect(sweep.stderr).toContain(`stopped the Bazel server of ${ws} and removed ${base}`);
  expect(ownerAlive(Number(pid))).toBe(false);
  expect(() => readFileSync(join(base, "DO_NOT_BUILD_HERE"))).toThrow();
  // The run's output base without a server goes; the process its stale PID file names lives on.
  expect(() => readFileSync(join(reused, "DO_NOT_BUILD_HERE"))).toThrow();
  // ownerAlive: a zombie is dead (killed `stranger` would be one until this process reaps it; kill(pid, 0) finds it).
  expect(ownerAlive(stranger.pid ?? -1)).toBe(true);
  // The older output base is untouched.
  expect(readFileSync(join(older, "DO_NOT_BUILD_HERE"), "utf8")).toBe("/gone");
}, 120_000);
