/**
 * A slowloris registry through the real CLI: the real registry (docker-registry) behind the fault proxy, which
 * drips one image's layer at 2 bytes a second (never idle long enough for the 60 s socket timeout). `pipeline pull`
 * must fail with E_REGISTRY_TOO_SLOW naming the layer, not hang. The window is made short ($PIPELINE_TRANSFER_RATE_WINDOW)
 * so the test is quick; nothing is asserted on time.
 *
 * And a slowloris Bazel remote cache under `pipeline bazel-push` (what `bazel run :NAME_push
 * --@rules_pipeline//bazel:remote_cache=URL` runs) pushing to the real registry (issue #72): the cache is held to the
 * registry's minimum transfer rate, and a push whose upload the registry gives up on (408) exits with its error instead
 * of keeping the cache's responses open (and itself running) for ever. The cache is an in-process server: the real one
 * (nginx WebDAV, scripts/remote-cache.sh) cannot be made to trickle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { pushImage } from "../../src/registry/push";
import { withLayersInBazelCache } from "../../src/layout/remote";
import { writeLayout } from "../../src/layout/write";
import { pipelineCli, runCli } from "../fixtures/cli";
import { type FaultProxy, startFaultProxy } from "../fixtures/fault-proxy";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const ROOT = resolve(__dirname, "..", "..");
let tmp: string;
let reg: RunningRegistry;
let proxy: FaultProxy;
const image = randomImage({ layers: 1, layerSize: 64 * 1024 });
const layer = image.layers[0].digest;

function cliEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const home = join(tmp, "home");
  mkdirSync(home, { recursive: true });
  return {
    ...process.env,
    HOME: home,
    DOCKER_CONFIG: join(home, ".docker"),
    CI: "1",
    PIPELINE_TOOLS_NODE_MODULES: join(ROOT, "node_modules"),
    ...extra,
  };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "slow-registry-"));
  reg = await startRegistry();
  await pushImage(image, { registry: reg.host, repository: "slow/app", tags: ["v1"] }, { keychain: anonymousKeychain });
  proxy = await startFaultProxy({
    upstream: reg.host,
    responseBytesPerSecond: 2,
    dripResponse: (method, path) => method === "GET" && path.endsWith(`/blobs/${layer}`),
  });
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("pull from a registry that drips a layer", () => {
  it("fails with E_REGISTRY_TOO_SLOW naming the layer, the registry and the rate ($PIPELINE_MIN_TRANSFER_RATE)", async () => {
    const out = join(tmp, "env");
    const r = await runCli(["pull", `${proxy.host}/slow/app:v1`, "--output", out], {
      env: cliEnv({ PIPELINE_MIN_TRANSFER_RATE: "1KiB/s", PIPELINE_TRANSFER_RATE_WINDOW: "2s" }),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_REGISTRY_TOO_SLOW]");
    expect(r.stderr).toContain(layer);
    expect(r.stderr).toContain(`registry ${proxy.host}`);
    expect(r.stderr).toMatch(/ at [0-9.]+ B\/s /);
    expect(existsSync(out)).toBe(false);
  });

  it("--min-transfer-rate wins over the variable", async () => {
    const out = join(tmp, "flag");
    const r = await runCli(["pull", `${proxy.host}/slow/app:v1`, "--output", out, "--min-transfer-rate", "1KiB"], {
      env: cliEnv({ PIPELINE_MIN_TRANSFER_RATE: "0", PIPELINE_TRANSFER_RATE_WINDOW: "2s" }),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_REGISTRY_TOO_SLOW]");
  });

  it("a bad rate is a usage error naming the flag", async () => {
    const r = await runCli(
      ["pull", `${proxy.host}/slow/app:v1`, "--output", join(tmp, "bad"), "--min-transfer-rate", "fast"],
      { env: cliEnv({}) },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--min-transfer-rate: expected a size like 500MB, 20GiB or 1048576 (bytes), got "fast"');
  });
});

/** A Bazel HTTP cache that holds `blobs` and sends each GET's body a byte every 250 ms; counts the GETs still open. */
async function tricklingCache(
  blobs: Map<string, Buffer>,
): Promise<{ url: string; open: () => number; stop(): Promise<void> }> {
  let open = 0;
  const server: Server = createServer((req, res) => {
    const blob = blobs.get((req.url ?? "").replace(/^\/cas\//, ""));
    if (!blob) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Length": String(blob.length) });
    if (req.method === "HEAD") return res.end();
    open++;
    let i = 0;
    const timer = setInterval(() => {
      if (i < blob.length) res.write(blob.subarray(i, ++i));
    }, 250);
    res.once("close", () => {
      open--;
      clearInterval(timer);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => open,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * The registry giving up on an upload: PUTs of blob uploads answered 408 at once, without reading their body;
 * everything else forwarded to the real registry. A stand-in: the real registry answers 408 only after its own read
 * timeout (minutes).
 */
async function givingUp(upstreamPort: number): Promise<{ host: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method === "PUT" && req.url?.includes("/blobs/uploads/")) {
      res.writeHead(408, { "Content-Length": "0" }).end();
      return;
    }
    const up = httpRequest(
      { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** What the push through the CLI did; `killed`: it was still running after the bound and was killed. */
interface PushRun {
  code: number | null;
  stderr: string;
  killed: boolean;
  layer: string;
}

/**
 * `pipeline bazel-push` of a push layout (the image rule's: no layer blob, its layer recorded as in the Bazel cache)
 * whose layer `blobs` (the cache's store) is given; killed after `boundMs`, a bound no push here comes near.
 */
async function bazelPush(
  name: string,
  registry: string,
  cacheUrl: string,
  blobs: Map<string, Buffer>,
  env: NodeJS.ProcessEnv,
  boundMs = 90_000,
): Promise<PushRun> {
  const pushed = randomImage({ layers: 1, layerSize: 4096 });
  const layer = pushed.layers[0];
  const chunks: Buffer[] = [];
  for await (const chunk of layer.open()) chunks.push(chunk as Buffer);
  blobs.set(layer.digest.slice("sha256:".length), Buffer.concat(chunks));
  const runfiles = join(tmp, name);
  await writeLayout(join(runfiles, "ws", "push"), withLayersInBazelCache(pushed));
  const config = join(runfiles, "push.json");
  writeFileSync(
    config,
    JSON.stringify({
      label: `//app:${name}_push`,
      mode: "push",
      workspace: "ws",
      registry,
      repository: `cache/${name}`,
      tags: ["v1"],
      insecure: true,
      images: [{ name: "default", layout: "ws/push", digestFile: "ws/push.digest" }],
      env: {},
      remoteCache: cacheUrl,
    }),
  );
  const cli = await pipelineCli();
  return new Promise<PushRun>((resolve, reject) => {
    const c = spawn(process.execPath, [cli, "bazel-push", "--config", config], {
      env: cliEnv({ PIPELINE_RUNFILES_DIR: runfiles, ...env }),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let killed = false;
    c.stderr?.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      killed = true;
      c.kill("SIGKILL");
    }, boundMs);
    c.on("error", reject);
    c.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, killed, layer: layer.digest });
    });
  });
}

describe("push from a Bazel remote cache that drips a layer (issue #72)", () => {
  let cache: Awaited<ReturnType<typeof tricklingCache>>;
  const blobs = new Map<string, Buffer>();
  beforeAll(async () => {
    cache = await tricklingCache(blobs);
  });
  afterAll(async () => {
    await cache?.stop();
  });

  it("the cache is held to the minimum transfer rate: E_REGISTRY_TOO_SLOW naming the cache and the layer, and the push exits", async () => {
    const r = await pushWith("rate", reg.host, {
      PIPELINE_MIN_TRANSFER_RATE: "1KiB/s",
      PIPELINE_TRANSFER_RATE_WINDOW: "2s",
    });
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("error[E_REGISTRY_TOO_SLOW]");
    expect(r.stderr).toContain(`: Bazel remote cache 127.0.0.1:`);
    expect(r.stderr).toContain(r.layer);
    expect(r.stderr).toMatch(/ at [0-9.]+ B\/s /);
  });

  it("a registry giving up on the upload (408, with retries) ends the push: its error, exit 1, no cache response holding the process", async () => {
    const proxy = await givingUp(reg.port);
    try {
      // The rate check off: only the registry's answer can end this push.
      const r = await pushWith("giveup", proxy.host, { PIPELINE_MIN_TRANSFER_RATE: "0" });
      expect(r.killed, r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain("408");
    } finally {
      await proxy.stop();
    }
  });

  const pushWith = (name: string, registry: string, env: NodeJS.ProcessEnv) =>
    bazelPush(name, registry, cache.url, blobs, env);
});
