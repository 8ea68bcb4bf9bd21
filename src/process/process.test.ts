import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { buildSync } from "esbuild";
import { afterAll, describe, expect, test } from "vitest";
import { ownerAlive, pidAlive, procStat, selfOwner } from "./owner";
import { exitStatus, onRunAbort, terminateOnRunAbort } from "./signals";

const root = mkdtempSync(join(tmpdir(), "process-unit-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A pid no process has: above the largest pid_max Linux allows (2^22). */
const DEAD_PID = 4194305;

describe("owner: one rule for 'is it alive'", () => {
  test("this process, by pid and start time; another start time is another process; a free pid is dead", () => {
    const me = selfOwner();
    expect(me.start).toBeGreaterThan(0);
    expect(ownerAlive(me.pid, me.start)).toBe(true);
    expect(ownerAlive(me.pid, me.start + 1)).toBe(false);
    expect(ownerAlive(DEAD_PID, 0)).toBe(false);
    expect(ownerAlive(0)).toBe(false);
    expect(ownerAlive(-1)).toBe(false);
  });

  test("a zombie (exited, not reaped) is not alive, although kill(pid, 0) still finds it", async () => {
    // sh starts a child, then becomes `sleep`, which never reaps it. The child (head) waits for a byte on fd 3 that
    // this test writes only once sh has become sleep: had it ended sooner, sh could have reaped it itself (seen under
    // load). From then on the child's becoming a zombie is a certainty, not a race, so the wait has no time limit of
    // its own (the test's time-out is the bound).
    const parent = spawn("sh", ["-c", "head -c 1 <&3 >/dev/null & echo $!; exec sleep 60"], {
      stdio: ["ignore", "pipe", "ignore", "pipe"],
    });
    try {
      const [, out, , release] = parent.stdio;
      if (!(out instanceof Readable) || !(release instanceof Writable))
        throw new Error("the parent's fd 1 and fd 3 are not pipes");
      const zombie = Number(
        await new Promise<string>((res) => out.once("data", (d: Buffer) => res(d.toString().trim()))),
      );
      const comm = () => {
        try {
          return readFileSync(`/proc/${parent.pid}/comm`, "utf8").trim();
        } catch {
          return undefined;
        }
      };
      while (comm() !== "sleep") await new Promise((r) => setTimeout(r, 10));
      expect(procStat(zombie)?.state).not.toBe("Z"); // still waiting for its byte
      release.end("x");
      while (procStat(zombie)?.state !== "Z") await new Promise((r) => setTimeout(r, 10));
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(pidAlive(zombie)).toBe(false);
      expect(ownerAlive(zombie, procStat(zombie)!.start)).toBe(false);
      expect(pidAlive(parent.pid!)).toBe(true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});

/** Runs `body` in a child node process with src/process/*.ts bundled in; resolves to its exit and output. */
async function child(
  body: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  const dir = mkdtempSync(join(root, "child-"));
  const bundle = join(dir, "process.js");
  buildSync({
    stdin: { contents: `export * from "./exit"; export * from "./signals";`, resolveDir: __dirname, loader: "ts" },
    bundle: true,
    platform: "node",
    format: "cjs",
    outfile: bundle,
    logLevel: "silent",
  });
  const script = `const p = require(${JSON.stringify(bundle)}); ${body}; process.stdout.write("ready\\n"); setInterval(() => {}, 1000);`;
  const proc = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((res) =>
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready\n")) res();
    }),
  );
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.on("exit", (code, s) => res({ code, signal: s })),
  );
  proc.kill(signal);
  return { ...(await exit), out };
}

describe("signals: the hub", () => {
  test("with only observers, the exit hooks run and the process still dies of the signal", async () => {
    const r = await child(
      `p.untilDone(() => process.stdout.write("cleaned\\n"), (s) => process.stdout.write("saw " + s + "\\n"))`,
      "SIGTERM",
    );
    expect(r.signal).toBe("SIGTERM");
    expect(r.out).toContain("saw SIGTERM\ncleaned\n");
  });

  test("a deciding handler takes over: the process ends when it says, and exit hooks run once", async () => {
    const r = await child(
      `p.onExit(() => process.stdout.write("exit hook\\n"));
       p.untilDone(() => process.stdout.write("cleaned\\n"));
       p.onTermination((s) => { process.stdout.write("stopping on " + s + "\\n"); setTimeout(() => process.exit(7), 50); })`,
      "SIGHUP",
    );
    expect(r.code).toBe(7);
    expect(r.out).toContain("stopping on SIGHUP\n");
    expect(r.out.match(/cleaned/g)).toHaveLength(1);
    expect(r.out.match(/exit hook/g)).toHaveLength(1);
  });

  test("an unregistered hook does not run; the last handler gone, the listeners are gone", async () => {
    const r = await child(
      `const off = p.onExit(() => process.stdout.write("must not run\\n")); off();
       const offSig = p.onTermination(() => process.stdout.write("must not run either\\n")); offSig();
       process.stdout.write("listeners " + process.listenerCount("SIGINT") + "\\n")`,
      "SIGINT",
    );
    expect(r.signal).toBe("SIGINT");
    expect(r.out).toContain("listeners 0\n");
    expect(r.out).not.toContain("must not run");
  });
});

describe("signals: ending a run early (the local runners' stop and kill)", () => {
  const sent = () => {
    const got: string[] = [];
    return { got, send: (s: string) => void got.push(s) };
  };

  test("a stop sends SIGTERM, then SIGKILL after the grace time; a kill sends SIGKILL at once", async () => {
    const stop = new AbortController();
    const kill = new AbortController();
    const { got, send } = sent();
    const unwire = terminateOnRunAbort({ signal: stop.signal, kill: kill.signal, stopTimeoutMs: 30 }, send);
    stop.abort();
    expect(got).toEqual(["SIGTERM"]);
    await new Promise((r) => setTimeout(r, 80));
    expect(got).toEqual(["SIGTERM", "SIGKILL"]);
    kill.abort();
    expect(got).toEqual(["SIGTERM", "SIGKILL", "SIGKILL"]);
    unwire();
  });

  test("a run that ends within the grace time gets no SIGKILL; after unwiring, aborts send nothing", async () => {
    const stop = new AbortController();
    const kill = new AbortController();
    const { got, send } = sent();
    const unwire = terminateOnRunAbort({ signal: stop.signal, kill: kill.signal, stopTimeoutMs: 30 }, send);
    stop.abort();
    unwire();
    await new Promise((r) => setTimeout(r, 80));
    kill.abort();
    expect(got).toEqual(["SIGTERM"]);
  });

  test("a request made before the run started is acted on when it is wired", () => {
    const calls: string[] = [];
    const unwire = onRunAbort(
      { signal: AbortSignal.abort(), kill: AbortSignal.abort() },
      () => calls.push("stop"),
      () => calls.push("kill"),
    );
    expect(calls).toEqual(["stop", "kill"]);
    unwire();
  });

  test("exit status: the code, else 128 + the signal's number, as a shell reports it", () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(3, null)).toBe(3);
    expect(exitStatus(null, "SIGTERM")).toBe(143);
    expect(exitStatus(null, "SIGSEGV")).toBe(139);
    expect(exitStatus(null, null)).toBe(128);
  });
});
