/**
 * A slowloris registry through the real CLI: the real registry (docker-registry) behind the fault proxy, which
 * drips one image's layer at 2 bytes a second (never idle long enough for the 60 s socket timeout). `pipeline pull`
 * must fail with E_REGISTRY_TOO_SLOW naming the layer, not hang. The window is made short ($PIPELINE_TRANSFER_RATE_WINDOW)
 * so the test is quick; nothing is asserted on time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { pushImage } from "../../src/registry/push";
import { runCli } from "../fixtures/cli";
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
