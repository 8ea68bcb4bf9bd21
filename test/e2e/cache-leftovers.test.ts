/**
 * Crash leftovers (issue #9, defect 6), with the real CLI, the CNCF registry and runc: `pull`, `run` (while
 * pulling and while unpacking) and `model pull` killed with SIGKILL mid-way leave temporary entries; the next
 * command of the same kind removes them at its start, and `pipeline cache prune` does too, while a process
 * still running keeps its own (and the image its container runs). A registry answer held back half way (a
 * proxy that stops forwarding a chosen blob) puts the killed command reliably in the middle of its download.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, request as httpRequest } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { pushModel, syncModel } from "../../src/weights";
import { parseReference } from "../../src/oci/reference";
import { pipelineCli, runCli } from "../fixtures/cli";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { buildRunnerApp, type RunnerApp } from "../fixtures/runner-app";

let tmp: string;
let reg: RunningRegistry;
let app: RunnerApp;
let proxy: StallProxy;
let cli: string;
let env: NodeJS.ProcessEnv;
const children = new Set<ChildProcess>();

interface StallProxy {
  host: string;
  /** Blob digests whose GET is answered only in part, then held open. */
  stall: Set<string>;
  /** How many answers are being held. */
  held(): number;
  stop(): Promise<void>;
}

/** Forwards to `upstream`; a GET of a blob in `stall` gets its headers and `partBytes` of the body, then nothing. */
async function startStallProxy(upstream: string, partBytes = 256 * 1024): Promise<StallProxy> {
  const [host, port] = upstream.split(":");
  const sockets = new Set<Socket>();
  let held = 0;
  const stall = new Set<string>();
  const server = createServer((req, res) => {
    const up = httpRequest(
      { host, port: Number(port), method: req.method, path: req.url, headers: req.headers },
      (ur: IncomingMessage) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        const digest = /\/blobs\/(sha256:[a-f0-9]{64})/.exec(req.url ?? "")?.[1];
        if (req.method !== "GET" || ur.statusCode !== 200 || !digest || !stall.has(digest)) return void ur.pipe(res);
        let sent = 0;
        ur.on("data", (chunk: Buffer) => {
          if (sent >= partBytes) return;
          const piece = chunk.subarray(0, partBytes - sent);
          sent += piece.length;
          res.write(piece);
          if (sent >= partBytes) {
            held++;
            ur.destroy();
          }
        });
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stall,
    held: () => held,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function spawnCli(
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
): { child: ChildProcess; out: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("close", (code, signal) => {
      children.delete(child);
      r({ code, signal });
    }),
  );
  return { child, out: () => out, exit };
}

async function until(what: string, cond: () => boolean, out: () => string = () => "", ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${out()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function killed(c: ReturnType<typeof spawnCli>): Promise<void> {
  c.child.kill("SIGKILL");
  expect((await c.exit).signal, c.out()).toBe("SIGKILL");
}

/** Temporary entries in `dir` (every naming scheme there has been has `.tmp-` in it). */
const temps = (dir: string, name = ""): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((n) => n.includes(`${name}.tmp-`)) : [];

function bigLayer(): string {
  return [...app.image.layers].sort((a, b) => b.size - a.size)[0].digest;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-leftovers-"));
  reg = await startRegistry();
  app = await buildRunnerApp(tmp, reg);
  proxy = await startStallProxy(reg.host);
  cli = await pipelineCli();
  env = { PATH: process.env.PATH, HOME: join(tmp, "home"), CI: "1" };
});

afterEach(() => proxy.stall.clear()); // a failed test must not leave the next one stalled

afterAll(async () => {
  // SIGINT first: a runner stops and deletes its container (SIGKILL would leave it running, its root mounted).
  for (const c of children) c.kill("SIGINT");
  for (let i = 0; i < 100 && children.size; i++) await new Promise((r) => setTimeout(r, 100));
  for (const c of children) c.kill("SIGKILL");
  for (const line of tmp ? readFileSync("/proc/self/mounts", "utf8").split("\n") : []) {
    const at = line.split(" ")[1];
    if (at?.startsWith(tmp)) spawnSync("umount", ["-l", at]);
  }
  await proxy?.stop();
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline pull --output", () => {
  it("a pull killed mid-download leaves .OUT.tmp-*; the next pull into OUT removes it", async () => {
    const dir = join(tmp, "pulls");
    mkdirSync(dir);
    const out = join(dir, "out");
    const ref = `${proxy.host}/run/app@${app.digest}`;
    proxy.stall.add(bigLayer());
    const first = spawnCli(["pull", ref, "--output", out]);
    const held = proxy.held();
    await until("the pull to be mid-download", () => proxy.held() > held && temps(dir, ".out").length > 0, first.out);
    await killed(first);
    const left = temps(dir, ".out");
    expect(left).toHaveLength(1);
    proxy.stall.clear();
    const second = await runCli(["pull", ref, "--output", out], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe(`${proxy.host}/run/app@${app.digest}`);
    expect(temps(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual(["out"]);
  });

  it("a pull ended by SIGTERM or SIGINT mid-download removes its temporary layout and ends by that signal", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const dir = join(tmp, `pulls-${signal}`);
      mkdirSync(dir);
      proxy.stall.add(bigLayer());
      const held = proxy.held();
      const pull = spawnCli(["pull", `${proxy.host}/run/app@${app.digest}`, "--output", join(dir, "out")]);
      await until("the pull to be mid-download", () => proxy.held() > held && temps(dir, ".out").length > 0, pull.out);
      pull.child.kill(signal);
      expect(await pull.exit, pull.out()).toEqual({ code: null, signal });
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});

describe("pipeline build --lockfile", () => {
  /** Processes whose working directory is under `dir` (npm, pnpm or yarn left running). */
  const processesIn = (dir: string): string[] =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/cwd`).startsWith(dir);
        } catch {
          return false;
        }
      });

  it("a build ended by SIGINT during npm ci or SIGTERM while writing its layer leaves no work directory, entry or npm", async () => {
    const project = join(tmp, "build-project");
    mkdirSync(project);
    // typescript: one package, big enough (23 MB) for its layer to take a while to write.
    const ts = {
      version: "5.9.3",
      integrity: "sha512-jl1vZzPDinLr9eUt3J/t7V6FgNEw9QjvBPdysz9KfQDD41fQrC2Y4vKQdiaUpFT4bXlb1RHhLpp8wtm6M5TgSw==",
    };
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "b", version: "1.0.0", main: "main.js", dependencies: { typescript: ts.version } }),
    );
    const lock = {
      name: "b",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: {
        "": { name: "b", version: "1.0.0", dependencies: { typescript: ts.version } },
        "node_modules/typescript": {
          ...ts,
          resolved: `https://registry.npmjs.org/typescript/-/typescript-${ts.version}.tgz`,
        },
      },
    };
    writeFileSync(join(project, "package-lock.json"), JSON.stringify(lock));
    writeFileSync(join(project, "main.js"), "");
    const npmCache = join(process.env.HOME ?? tmp, ".npm"); // warm: the checkout's own typescript
    for (const [signal, when] of [
      ["SIGINT", "npm ci"],
      ["SIGTERM", "layer"],
    ] as const) {
      const cache = join(tmp, "build-cache"); // one for both: the host-node base is built once
      const out = join(tmp, `build-out-${signal}`);
      const b = spawnCli(["build", "--lockfile", project, "--output", out, "--cache-dir", cache], {
        npm_config_cache: npmCache,
      });
      const work = () => (existsSync(cache) ? readdirSync(cache).filter((n) => /^npm-/.test(n)) : []);
      const inWork = (f: RegExp) =>
        work().some((w) => {
          try {
            return readdirSync(join(cache, w)).some((n) => f.test(n));
          } catch {
            return false; // removed meanwhile
          }
        });
      // The layer is written as .node_modules.tar.gz.tmp-* in the work directory (src/layer/build.ts), then renamed.
      await until(
        `the build's ${when}`,
        () => inWork(when === "layer" ? /^\.node_modules\.tar\.gz\.tmp-/ : /^node_modules$/),
        b.out,
      );
      b.child.kill(signal);
      expect(await b.exit, b.out()).toEqual({ code: null, signal });
      expect(work(), when).toEqual([]);
      expect(temps(join(cache, "node_modules")), when).toEqual([]);
      expect(temps(join(cache, "bases")), when).toEqual([]);
      expect(temps(tmp, `.build-out-${signal}`), when).toEqual([]);
      expect(processesIn(cache), when).toEqual([]);
    }
  });
});

describe("pipeline run and pipeline cache", () => {
  it("runs killed while pulling and while unpacking leave leftovers; the next run removes them, not a running one's", async () => {
    const cache = join(tmp, "cache-run");
    const images = join(cache, "images");
    const rootfs = join(cache, "rootfs");
    const ref = `${proxy.host}/run/app@${app.digest}`;
    proxy.stall.add(bigLayer());
    // A run that stays in the middle of its pull (alive) all along: no sweep may touch its temporary layout.
    let held = proxy.held();
    const alive = spawnCli(["run", "--image", ref, "--cache-dir", cache, "--", "hello"]);
    await until("the live run to be mid-pull", () => proxy.held() > held && temps(images).length === 1, alive.out);
    const [aliveTemp] = temps(images);
    expect(aliveTemp).toContain(`-${alive.child.pid}-`);

    held = proxy.held();
    const pulling = spawnCli(["run", "--image", ref, "--cache-dir", cache, "--", "hello"]);
    await until("the run to be mid-pull", () => proxy.held() > held && temps(images).length === 2, pulling.out);
    await killed(pulling);
    const pullLeftover = temps(images).find((n) => n !== aliveTemp)!;
    expect(pullLeftover).toContain(`-${pulling.child.pid}-`);

    // From the local layout: no pull, straight to unpacking (~100 MB of host-node base), killed in the middle. As
    // it started, this run removed what the killed pull left, and kept what the live one is writing.
    const unpacking = spawnCli(["run", "--image", `oci:${app.layout}`, "--cache-dir", cache, "--", "hello"]);
    await until("the run to be unpacking", () => temps(rootfs).length > 0, unpacking.out);
    await killed(unpacking);
    expect(temps(images)).toEqual([aliveTemp]);
    expect(temps(rootfs)).toHaveLength(1);
    expect(readdirSync(rootfs).filter((n) => /^[a-f0-9]{64}$/.test(n))).toEqual([]);

    const du = JSON.parse((await runCli(["cache", "du", "--cache-dir", cache, "--json"], { env })).stdout);
    expect(du.kinds.temp).toMatchObject({ entries: 2, stale: 1 });
    expect(du.kinds.temp.bytes).toBeGreaterThan(256 * 1024);
    expect(du.total).toBe(
      Object.values(du.kinds as Record<string, { bytes: number }>).reduce((sum, k) => sum + k.bytes, 0),
    );

    proxy.stall.clear();
    const next = await runCli(["run", "--image", ref, "--cache-dir", cache, "--", "hello"], { env });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain("hello from run");
    expect(temps(images)).toEqual([aliveTemp]);
    expect(temps(rootfs)).toEqual([]);

    // Once that run is gone too, `cache prune` (no limits: leftovers only) removes what it left.
    await killed(alive);
    const dry = await runCli(["cache", "prune", "--cache-dir", cache, "--dry-run"], { env });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would remove temp images/${aliveTemp}`);
    expect(temps(images)).toEqual([aliveTemp]);
    const prune = await runCli(["cache", "prune", "--cache-dir", cache], { env });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain(`removed temp images/${aliveTemp}`);
    expect(temps(images)).toEqual([]);
    const hex = app.digest.slice("sha256:".length);
    expect(existsSync(join(images, hex, "index.json"))).toBe(true); // entries stay without --older-than/--max-size
    expect(existsSync(join(rootfs, hex))).toBe(true);
  });

  it("a run ended by SIGTERM while unpacking stops as it decides (no container started, exit 130) and leaves no temporary rootfs", async () => {
    const cache = join(tmp, "cache-run-sigterm");
    const rootfs = join(cache, "rootfs");
    const r = spawnCli(["run", "--image", `oci:${app.layout}`, "--cache-dir", cache, "--", "hello"]);
    await until("the run to be unpacking", () => temps(rootfs).length > 0, r.out);
    r.child.kill("SIGTERM");
    expect(await r.exit, r.out()).toEqual({ code: 130, signal: null });
    expect(r.out()).not.toContain("hello from run");
    expect(temps(rootfs)).toEqual([]);
  });

  it("cache prune --max-size 0 keeps the image a running container uses and removes the rest", async () => {
    const cache = join(tmp, "cache-run");
    // An entry no one uses, last used a week ago.
    const unused = join(cache, "rootfs", "e".repeat(64));
    mkdirSync(join(unused, "etc"), { recursive: true });
    writeFileSync(join(unused, "etc", "data"), randomBytes(4096));
    const weekAgo = new Date(Date.now() - 7 * 86_400_000);
    utimesSync(unused, weekAgo, weekAgo);

    const sleeper = spawnCli([
      "run",
      "--image",
      `${proxy.host}/run/app@${app.digest}`,
      "--cache-dir",
      cache,
      "--stop-timeout",
      "1",
      "--",
      "sleep",
    ]);
    try {
      await pruneWhileRunning(sleeper);
    } finally {
      sleeper.child.kill("SIGINT");
    }
    expect((await sleeper.exit).code).toBe(137);
    // Its run over, nothing holds the image: the same prune removes it now.
    const after = await runCli(["cache", "prune", "--cache-dir", cache, "--max-size", "0", "--json"], { env });
    expect(
      JSON.parse(after.stdout)
        .removed.map((e: { kind: string }) => e.kind)
        .sort(),
    ).toEqual(["images", "rootfs"]);
    expect(readdirSync(join(cache, "rootfs")).filter((n) => !n.startsWith("."))).toEqual([]);
  });

  async function pruneWhileRunning(sleeper: ReturnType<typeof spawnCli>): Promise<void> {
    const cache = join(tmp, "cache-run");
    const hex = app.digest.slice("sha256:".length);
    const unused = join(cache, "rootfs", "e".repeat(64));
    await until("the container to be ready", () => sleeper.out().includes("ready"), sleeper.out);

    const aged = await runCli(["cache", "prune", "--cache-dir", cache, "--older-than", "3d", "--dry-run", "--json"], {
      env,
    });
    const plan = JSON.parse(aged.stdout);
    expect(
      plan.removed.map((e: { path: string; reason: string; bytes: number }) => [e.path, e.reason, e.bytes]),
    ).toEqual([[unused, "age", 4096]]);
    expect(existsSync(unused)).toBe(true);

    const prune = await runCli(["cache", "prune", "--cache-dir", cache, "--max-size", "0"], { env });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toContain(`removed rootfs rootfs/${"e".repeat(64)} (4.0 KiB): least recently used`);
    expect(prune.stdout).toMatch(
      new RegExp(`kept rootfs rootfs/${hex} \\(.*\\): in use \\(pid ${sleeper.child.pid}\\)`),
    );
    expect(prune.stdout).toMatch(new RegExp(`kept images images/${hex} \\(.*\\): in use`));
    expect(existsSync(unused)).toBe(false);
    expect(existsSync(join(cache, "rootfs", hex, "app", "main.js"))).toBe(true);
  }
});

describe("models", () => {
  let ref: string;
  let bigDigest: string;
  beforeAll(async () => {
    const src = join(tmp, "model-src");
    mkdirSync(src);
    writeFileSync(join(src, "weights.bin"), randomBytes(8 * 1024 * 1024));
    writeFileSync(join(src, "config.json"), "{}");
    const pushed = await pushModel(src, parseReference(`${reg.host}/models/m:v1`), { keychain: anonymousKeychain });
    ref = `${proxy.host}/models/m@${pushed.digest}`;
    // The big file's layer (the second: src/weights/index.ts) is the one the proxy stalls.
    const res = await fetch(`http://${reg.host}/v2/models/m/manifests/${pushed.digest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    bigDigest = ((await res.json()) as { layers: { digest: string }[] }).layers[1].digest;
  });

  it("a model pull killed mid-download leaves .OUT.tmp-*; the next model pull into OUT removes it", async () => {
    const dir = join(tmp, "model-pulls");
    mkdirSync(dir);
    const out = join(dir, "m");
    proxy.stall.add(bigDigest);
    const held = proxy.held();
    const first = spawnCli(["model", "pull", ref, "--output", out]);
    await until(
      "the model pull to be mid-download",
      () => proxy.held() > held && temps(dir, ".m").length > 0,
      first.out,
    );
    await killed(first);
    expect(temps(dir, ".m")).toHaveLength(1);
    proxy.stall.clear();
    const second = await runCli(["model", "pull", ref, "--output", out], { env });
    expect(second.code, second.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(["m"]);
    expect(readFileSync(join(out, "config.json"), "utf8")).toBe("{}");
  });

  it("a model pull ended by SIGTERM mid-download removes its temporary directory", async () => {
    const dir = join(tmp, "model-pulls-sigterm");
    mkdirSync(dir);
    proxy.stall.add(bigDigest);
    const held = proxy.held();
    const pull = spawnCli(["model", "pull", ref, "--output", join(dir, "m")]);
    await until(
      "the model pull to be mid-download",
      () => proxy.held() > held && temps(dir, ".m").length > 0,
      pull.out,
    );
    pull.child.kill("SIGTERM");
    expect(await pull.exit, pull.out()).toEqual({ code: null, signal: "SIGTERM" });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a model sync removes what ended processes left in the model cache, not what a running one writes", async () => {
    const cache = join(tmp, "model-cache");
    const sha = join(cache, "sha256");
    mkdirSync(sha, { recursive: true });
    const dead = await new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ["-e", "0"]);
      c.on("close", () => resolve(c.pid!));
    });
    const start = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    };
    const hex = "a".repeat(64);
    const leftovers = [`.${hex}.tmp-${dead}-12345-0badc0de`, `${hex}.tmp-AbC123`];
    // This process is alive, but a pid with another start time is a reused pid: its owner is gone.
    leftovers.push(`.${hex}.tmp-${process.pid}-${Number(start(process.pid)) + 1}-0badc0de`);
    const live = `.${hex}.tmp-${process.pid}-${start(process.pid)}-0badc0de`;
    const old = new Date(Date.now() - 2 * 86_400_000);
    for (const n of [...leftovers, live]) {
      mkdirSync(join(sha, n, "model"), { recursive: true });
      utimesSync(join(sha, n), old, old);
    }
    const synced = await syncModel(ref.replace(proxy.host, reg.host), { keychain: anonymousKeychain, cacheDir: cache });
    expect(readFileSync(join(synced.dir, "config.json"), "utf8")).toBe("{}");
    expect(readdirSync(sha).filter((n) => n.includes(".tmp-"))).toEqual([live]);
  });
});
