/**
 * Issue #24, item 12: a `pipeline run` (runc) killed with SIGKILL while its container runs leaves no env value
 * on the cache's disk. runc's config.json is a FIFO the runner feeds (src/container/config-fifo.ts); before, it was a
 * 0600 file holding the value until the next run scrubbed it. What remains is documented (docs/deployments.md):
 * the running container and runc's state under its --root (runc's default, /run/runc, is a tmpfs), until the next
 * `pipeline run` reaps them.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineCli, runCli } from "../fixtures/cli";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { filesContaining, mountsUnder, runcIds } from "../fixtures/runner";
import { buildRunnerApp, type RunnerApp } from "../fixtures/runner-app";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-sigkill-"));
const cache = join(tmp, "cache");
// runc's state of this file's containers only: the reaper of any `pipeline run --runtime runc` removes every stale
// rp-* container of its runc root, so a run of another file at the same moment would remove the container this test
// expects to find (it did, once, in a full run). A `runc` first on PATH gives this file's runs a root of their own.
const runcRoot = join(tmp, "runc-root");
const wrappers = join(tmp, "bin");
let reg: RunningRegistry;
let app: RunnerApp;

beforeAll(async () => {
  mkdirSync(wrappers);
  writeFileSync(
    join(wrappers, "runc"),
    `#!/bin/sh\nexec ${JSON.stringify(realRunc())} --root ${JSON.stringify(runcRoot)} "$@"\n`,
  );
  chmodSync(join(wrappers, "runc"), 0o755);
  reg = await startRegistry();
  app = await buildRunnerApp(tmp, reg);
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  // Synchronous: the container's state is under tmp, removed next (a container left by a failed test is killed first).
  for (const id of (await runcIds(runcRoot)).filter((i) => i.startsWith("rp-sigkill-")))
    spawnSync("runc", ["--root", runcRoot, "delete", "--force", id]);
  for (const m of mountsUnder(tmp).reverse()) spawnSync("umount", ["-l", m.split(" ")[1]]);
  rmSync(tmp, { recursive: true, force: true });
});

/** The runc the wrapper runs: the first on PATH. */
function realRunc(): string {
  const r = spawnSync("sh", ["-c", "command -v runc"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error("runc is not on PATH");
  return r.stdout.trim();
}

describe("a SIGKILLed `pipeline run` under runc", () => {
  it("leaves no env value in any file of the cache; the next run removes its container and run directory", async () => {
    const secret = `kill-s3cret-${randomBytes(12).toString("hex")}`;
    const specPath = join(tmp, "spec.yaml");
    const program = "console.log('ready'); setInterval(() => {}, 1000)";
    writeFileSync(
      specPath,
      [
        `image: ${app.ref}`,
        "name: sigkill",
        `command: [node, -e, ${JSON.stringify(program)}]`,
        'env: [{name: X, value: "SECRET:k"}]',
        "",
      ].join("\n"),
    );
    const env = {
      PATH: `${wrappers}:${process.env.PATH}`,
      HOME: join(tmp, "home"),
      CI: "1",
      PIPELINE_CACHE_DIR: cache,
      PIPELINE_SECRET_K: secret,
    };
    const child = spawn(process.execPath, [await pipelineCli(), "run", specPath, "--runtime", "runc"], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    let out = "";
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_c, sig) => resolve(sig)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ready" within 60 s: ${out}`)), 60_000);
      child.stdout.on("data", (d) => {
        out += d;
        if (String(d).includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const [runDir] = readdirSync(join(cache, "runs"));
    expect(runDir).toMatch(/^rp-sigkill-\d+-\d+-[0-9a-f]{8}$/); // rp-<name>-<pid>-<start>-<8 hex>
    expect(filesContaining(cache, secret)).toEqual([]);
    expect(filesContaining(cache, Buffer.from(secret).toString("base64").slice(0, -4))).toEqual([]);
    expect(lstatSync(join(cache, "runs", runDir, "config.json")).isFIFO()).toBe(true);
    // What remains until the next run: the container itself, still running (documented).
    expect(await runcIds(runcRoot)).toContain(runDir);

    const next = await runCli(["run", "--image", app.ref, "--runtime", "runc", "--", "hello"], { env });
    expect(next.code, next.stderr).toBe(0);
    expect(await runcIds(runcRoot)).not.toContain(runDir);
    expect(readdirSync(join(cache, "runs"))).toEqual([]);
  });
});
