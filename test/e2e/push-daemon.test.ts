/**
 * The resident push daemon (src/cli/push-daemon/, bazel/private/pipeline/push_client.sh) on a Bazel 4.2.3 consumer
 * workspace, pushing to the real CNCF registry with a password:
 * - the first `bazel run //pkg:NAME_push` runs its own Node and starts the daemon; the next is served by it (its log
 *   says so) and reports the same reference as a push with PIPELINE_PUSH_DAEMON=0;
 * - each push served uses its own launcher's environment: a DOCKER_CONFIG with a wrong password fails through the
 *   daemon (the registry's answer relayed, the exit code kept) and the right one after it succeeds;
 * - a launcher whose Node would start otherwise (NODE_OPTIONS) is declined and pushes with its own Node;
 * - a daemon killed with SIGKILL leaves a state file that only makes the next push fall back, which starts a new one;
 * - a connection without the client secret gets nothing; the daemon ends after PIPELINE_PUSH_DAEMON_IDLE_SECONDS and
 *   removes its state file;
 * - a push with --password-stdin (standard input stays the launcher's) is declined and runs in the launcher;
 * - a push asked while another runs is declined as busy; a launcher killed mid-push ends the push it asked for (the
 *   daemon logs it interrupted) and the daemon serves the next;
 * - a rebuilt bundle is declined and its daemon ends; an idle daemon whose bundle changes ends within its 20 s check;
 * - in a CI job (CI=true) a push starts none, unless PIPELINE_PUSH_DAEMON=1.
 * Each daemon here lives under the file's own cache root and is stopped at the end.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, utimesSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type DaemonState, readState } from "../../src/cli/push-daemon/protocol";
import { bazel, collect, QUIET } from "../fixtures/bazel";
import { cmdline } from "../fixtures/processes";
import { type RunningRegistry, startRegistry, writeDockerConfig } from "../fixtures/registry";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-push-daemon-"));
const cache = join(tmp, "cache");
const daemons = join(cache, "push-daemon");
const TARGET = "//examples/hello:hello_push";
let reg: RunningRegistry;
let borrowed: Borrowed | undefined;
let good = "";
let bad = "";

beforeAll(async () => {
  reg = await startRegistry({ htpasswd: { user: "u", password: "right" } });
  good = writeDockerConfig(mkdtempSync(join(tmp, "good-")), { [reg.host]: { username: "u", password: "right" } });
  bad = writeDockerConfig(mkdtempSync(join(tmp, "bad-")), { [reg.host]: { username: "u", password: "wrong" } });
  borrowed = borrowConsumerWorkspace();
});

afterAll(async () => {
  for (const s of states()) if (daemonAlive(s.pid)) process.kill(s.pid, "SIGTERM");
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** `pid` is a running push daemon (not another process that got a dead daemon's pid). */
const daemonAlive = (pid: number) => cmdline(pid).includes("push-daemon");

/** The daemons' state files under the file's cache root. */
function states(): DaemonState[] {
  if (!existsSync(daemons)) return [];
  return readdirSync(daemons)
    .filter((f) => !f.includes("."))
    .map((f) => readState(join(daemons, f)))
    .filter((s): s is DaemonState => s !== undefined);
}

/** Every line the daemons logged so far. */
function log(): string {
  if (!existsSync(daemons)) return "";
  return readdirSync(daemons)
    .filter((f) => f.endsWith(".log"))
    .map((f) => readFileSync(join(daemons, f), "utf8"))
    .join("");
}

async function until<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) {
      const files = states().map((d) => `pid ${d.pid} (${daemonAlive(d.pid) ? "alive" : "dead"})`);
      throw new Error(
        `timed out waiting for ${what}; state files: ${files.join(", ") || "none"}; daemon log:\n${log()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A push's environment: the file's cache root and the right password, the daemon neither off nor asked for. */
const pushEnv = (env: Record<string, string | undefined>) => ({
  PIPELINE_CACHE_DIR: cache,
  PIPELINE_PUSH_DAEMON: undefined,
  CI: undefined,
  DOCKER_CONFIG: good,
  NODE_OPTIONS: undefined,
  ...env,
});

async function push(repo: string, env: Record<string, string | undefined> = {}, args: string[] = []) {
  const r = await bazel(
    borrowed!.ws,
    ["run", ...QUIET, TARGET, ...(args.length ? ["--", ...args] : [])],
    pushEnv({ PIPELINE_REPOSITORY: `${reg.host}/${repo}`, ...env }),
  );
  return { ...r, ref: r.stdout.trim().split("\n").pop() ?? "" };
}

/**
 * The push launcher Bazel built, run as `bazel run` runs it (its path in the execroot, so its bundle is the daemon's)
 * but with standard input and a handle on its process.
 */
function launch(args: string[], env: Record<string, string | undefined>, input = "") {
  const bin = join(realpathSync(join(borrowed!.ws, "bazel-bin")), "examples/hello/hello_push.sh");
  let child: ChildProcess | undefined;
  const done = collect(
    bin,
    args,
    { cwd: borrowed!.ws, env: { ...process.env, ...pushEnv(env) }, input, started: (c) => (child = c) },
    "SIGKILL",
  );
  return { child: child!, done };
}

/** How many pushes the daemons served so far (one log line each), and how many they declined. */
const served = () => (log().match(/ exit \d+ in \d+ ms$/gm) ?? []).length;
const declined = () => (log().match(/ declined: /g) ?? []).length;
/** The bundle the daemons serve, as the last of them logged it (one workspace here: one bundle). */
const servedBundle = () => [...log().matchAll(/serving (\S+) on 127/g)].pop()?.[1];

describe("the resident push daemon", () => {
  test("the first push starts it, the next is served by it, with the reference a push without it reports", async () => {
    const first = await push("daemon/app");
    expect(first.code, first.stderr).toBe(0);
    const daemon = await until("the daemon's state file", () => states().find((s) => daemonAlive(s.pid)));
    expect(served()).toBe(0);

    const second = await push("daemon/app");
    expect(second.code, second.stderr).toBe(0);
    expect(served(), log()).toBe(1);
    expect(second.ref).toBe(first.ref);
    expect(states()[0]?.pid).toBe(daemon.pid);

    const without = await push("daemon/app", { PIPELINE_PUSH_DAEMON: "0" });
    expect(without.code, without.stderr).toBe(0);
    expect(without.ref).toBe(second.ref);
    expect(served()).toBe(1);
  });

  test("each push it serves has its launcher's credentials, and its exit code", async () => {
    const before = served();
    const denied = await push("daemon/creds", { DOCKER_CONFIG: bad });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/401|unauthori[sz]ed|denied/i);
    expect(denied.stderr).not.toContain("wrong");
    const allowed = await push("daemon/creds", { DOCKER_CONFIG: good });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.ref).toMatch(new RegExp(`^${reg.host}/daemon/creds@sha256:[0-9a-f]{64}$`));
    expect(served()).toBe(before + 2);
  });

  test("a launcher whose Node would start otherwise is declined and pushes itself", async () => {
    const before = served();
    const r = await push("daemon/app", { NODE_OPTIONS: "--max-old-space-size=1536" });
    expect(r.code, r.stderr).toBe(0);
    expect(served()).toBe(before);
    expect(log()).toContain("declined: NODE_OPTIONS differs from the daemon's");
  });

  test("a connection without the client secret gets nothing but the greeting", async () => {
    const [s] = states();
    const got = await new Promise<string>((resolve) => {
      let data = "";
      const socket = connect(s.port, "127.0.0.1", () => socket.write("Snot-the-secret\0V1\0D/\0Z\0"));
      socket.on("data", (d) => (data += d.toString("utf8")));
      socket.on("close", () => resolve(data));
      socket.on("error", () => resolve(data));
    });
    expect(got).toBe(`${s.serverSecret}\n`);
  });

  test("a push reading its password from standard input is declined and runs in the launcher", async () => {
    const before = served();
    // Only the password on standard input is right: the launcher's own Node read it.
    const r = await launch(
      ["--username", "u", "--password-stdin"],
      { PIPELINE_REPOSITORY: `${reg.host}/daemon/stdin`, DOCKER_CONFIG: bad },
      "right\n",
    ).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").pop()).toMatch(new RegExp(`^${reg.host}/daemon/stdin@sha256:[0-9a-f]{64}$`));
    expect(served()).toBe(before);
    expect(log()).toContain("declined: --password-stdin");
  });

  test("a push asked while one runs is declined as busy; a launcher killed mid-push ends its push, the daemon lives on", async () => {
    const [s] = states();
    expect(s && daemonAlive(s.pid)).toBe(true);
    // A registry that accepts connections and never answers: the served push waits on it.
    const held = new Set<Socket>();
    const stalled = createServer((c) => {
      held.add(c);
      c.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    try {
      const before = served();
      const declinedBefore = declined();
      const stuck = launch([], {
        PIPELINE_REPOSITORY: `127.0.0.1:${(stalled.address() as AddressInfo).port}/daemon/stuck`,
      });
      await until("the served push's connection to the stalled registry", () => (held.size > 0 ? true : undefined));
      // Served, not declined (a declined launcher would hold its own connection there).
      expect(declined()).toBe(declinedBefore);
      const r = await push("daemon/app");
      expect(r.code, r.stderr).toBe(0);
      expect(log()).toContain("declined: busy");
      stuck.child.kill("SIGTERM");
      await stuck.done;
      await until("the interrupted push's end", () => (/ interrupted in \d+ ms$/m.test(log()) ? true : undefined));
      expect(daemonAlive(s.pid)).toBe(true);
      const next = await push("daemon/app");
      expect(next.code, next.stderr).toBe(0);
      expect(served()).toBe(before + 1);
    } finally {
      for (const c of held) c.destroy();
      stalled.close();
    }
  });

  test("a killed daemon only makes the next push fall back, and that push starts a new one", async () => {
    const [old] = states();
    process.kill(old.pid, "SIGKILL");
    await until("the daemon's end", () => (daemonAlive(old.pid) ? undefined : true));
    const r = await push("daemon/app");
    expect(r.code, r.stderr).toBe(0);
    const fresh = await until("a new daemon", () => states().find((s) => s.pid !== old.pid && daemonAlive(s.pid)));
    expect(fresh.port).toBeGreaterThan(0);
  });

  test("a rebuilt bundle is declined, the daemon ends, and the launcher's own push starts one for the new bundle", async () => {
    const old = await until("a daemon", () => states().find((s) => daemonAlive(s.pid)));
    const bundle = servedBundle();
    expect(bundle).toBeDefined();
    // A rebuild gives the bundle another identity (here its modification time).
    const later = new Date(Date.now() + 60_000);
    utimesSync(bundle!, later, later);
    const r = await push("daemon/app");
    expect(r.code, r.stderr).toBe(0);
    expect(log()).toContain("declined: the bundle changed");
    await until("the old daemon's end", () => (daemonAlive(old.pid) ? undefined : true));
    await until("a new daemon", () => states().find((s) => s.pid !== old.pid && daemonAlive(s.pid)));
  });

  test("it ends after PIPELINE_PUSH_DAEMON_IDLE_SECONDS without a push and removes its state file", async () => {
    const running = states();
    for (const s of running) process.kill(s.pid, "SIGTERM");
    await until("no daemon", () => (states().length === 0 ? true : undefined));
    for (const s of running) expect(log()).toContain(`${s.pid} stopping: SIGTERM`);
    const r = await push("daemon/app", { PIPELINE_PUSH_DAEMON_IDLE_SECONDS: "2" });
    expect(r.code, r.stderr).toBe(0);
    const s = await until("the daemon", () => states()[0]);
    await until("the idle daemon's end", () => (!daemonAlive(s.pid) && states().length === 0 ? true : undefined));
    expect(log()).toContain(`${s.pid} stopping: idle for 2 s`);
  });

  test("in a CI job a push starts no daemon, unless PIPELINE_PUSH_DAEMON=1 asks for one", async () => {
    expect(states()).toEqual([]);
    // The launcher's own push decides before it would start one, and says so with --debug.
    const ci = await push("daemon/app", { CI: "true" }, ["--debug"]);
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stderr).toContain("push daemon: none started (a CI job: $CI is set; PIPELINE_PUSH_DAEMON=1 starts one)");
    expect(states()).toEqual([]);
    const asked = await push("daemon/app", { CI: "true", PIPELINE_PUSH_DAEMON: "1" });
    expect(asked.code, asked.stderr).toBe(0);
    await until("the daemon asked for", () => states().find((s) => daemonAlive(s.pid)));
  });

  test("an idle daemon whose bundle changes ends within its 20 s check, with no push asking", async () => {
    const s = await until("a daemon", () => states().find((d) => daemonAlive(d.pid)));
    const bundle = servedBundle();
    expect(bundle).toBeDefined();
    const later = new Date(Date.now() + 120_000);
    utimesSync(bundle!, later, later);
    await until("the daemon's end", () => (!daemonAlive(s.pid) && states().length === 0 ? true : undefined), 25_000);
    expect(log()).toContain(`${s.pid} stopping: the bundle changed`);
  });
});
