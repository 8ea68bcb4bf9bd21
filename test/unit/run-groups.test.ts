/**
 * scripts/lib/run-groups.sh, what `npm test` (scripts/test.sh) runs its long steps with: a SIGTERM (a CI time-out,
 * `kill`) or SIGINT ends the run at once, through its EXIT trap, and stops every process its steps started, down to
 * grandchildren. Before it, bash waited for the foreground step to end before running a trap (and without a trap died
 * at once), so vitest, tsc and what they had started ran on.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { waitUntil } from "../fixtures/processes";
import { REPO_ROOT } from "../fixtures/repo";

const tmp = mkdtempSync(join(tmpdir(), "rp-run-groups-"));
/** The scripts the tests started, stopped in afterAll whatever happened (a failing case leaves its step running). */
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.pid) spawnSync("pkill", ["-KILL", "-s", String(c.pid)]); // its session: the step and its children
  rmSync(tmp, { recursive: true, force: true });
});

/** PIDs of live processes whose argv[0] is `name`. */
function processesNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")[0] === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe("scripts/lib/run-groups.sh", () => {
  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    test(`${signal} ends the script through its EXIT trap and stops the step's grandchildren`, async () => {
      const name = `rp-run-groups-${signal}-${process.pid}`;
      const cleaned = join(tmp, `cleaned-${signal}`);
      // A step like vitest: a child that starts a grandchild and waits for it.
      const script = `source ${JSON.stringify(join(REPO_ROOT, "scripts/lib/run-groups.sh"))}
stop_on_signals
trap 'stop_groups; echo "$RUN_INTERRUPTED" > ${JSON.stringify(cleaned)}' EXIT
in_group bash -c '(exec -a ${name} sleep 300) & echo ready; wait'
echo "not reached"`;
      const child = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"], detached: true });
      started.push(child);
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString("utf8");
      });
      const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      await waitUntil("the step to start", () => out.includes("ready") && processesNamed(name).length === 1);
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(out).not.toContain("not reached");
      expect(existsSync(cleaned) && readFileSync(cleaned, "utf8").trim()).toBe("1");
      expect(processesNamed(name)).toEqual([]);
    });
  }

  test("in_group returns the step's exit code and a finished run is not marked interrupted", async () => {
    const script = `source ${JSON.stringify(join(REPO_ROOT, "scripts/lib/run-groups.sh"))}
stop_on_signals
rc=0; in_group bash -c 'exit 7' || rc=$?
echo "rc=$rc interrupted=$RUN_INTERRUPTED groups=\${#RUN_GROUPS[@]}"`;
    const child = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(code).toBe(0);
    expect(out.trim()).toBe("rc=7 interrupted=0 groups=1");
  });
});
