/**
 * The bench's command runner (bench/lib/measure.ts): a command it stops, on the bench's SIGINT/SIGTERM cleanup
 * (`stopRunning`) or at its time-out, ends with everything it started. An interrupted P13 once left a peer's
 * `npm ci` (and node-gyp and cc under it) running in the deleted work directory: only the direct child was killed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { run, stopRunning } from "../../bench/lib/measure";

const tmp = mkdtempSync(join(tmpdir(), "rp-bench-measure-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Whether `pid` is a live process (a zombie, ended but not yet reaped by its new parent, counts as ended). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Starts, through `run`, a shell that starts a `sleep` of its own and waits; the sleep's pid once it is known. */
async function shellWithChild(name: string, timeoutMs?: number) {
  const pidFile = join(tmp, name);
  const result = run("bash", ["-c", `sleep 300 & echo $! > ${pidFile}; wait`], { timeoutMs });
  // The shell creates the file before it writes the pid: wait for the whole line (an empty read gave pid 0 under load).
  const line = () => (existsSync(pidFile) ? readFileSync(pidFile, "utf8") : "");
  while (!/^\d+\n$/.test(line())) await new Promise((r) => setTimeout(r, 25));
  const pid = Number(line());
  expect(alive(pid)).toBe(true);
  return { result, pid };
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe("bench/lib/measure.ts run()", () => {
  test("stopRunning ends a running command and what it started", async () => {
    const { result, pid } = await shellWithChild("stopped");
    stopRunning();
    expect((await result).code).not.toBe(0);
    expect(await gone(pid), `the shell's sleep (pid ${pid}) outlived stopRunning`).toBe(true);
  });

  test("a command past its time-out ends with what it started", async () => {
    const { result, pid } = await shellWithChild("timed-out", 300);
    expect((await result).code).not.toBe(0);
    expect(await gone(pid), `the shell's sleep (pid ${pid}) outlived the time-out`).toBe(true);
  });

  test("stopRunning leaves alone what has ended, and a finished command's result is whole", async () => {
    const r = await run("bash", ["-c", "echo out; echo err >&2"]);
    stopRunning();
    expect(r).toMatchObject({ code: 0, stdout: "out\n", stderr: "err\n" });
  });
});
