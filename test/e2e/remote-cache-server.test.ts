/**
 * scripts/remote-cache.sh on its own (the Bazel builds against it are in test/e2e/bazel7-bzlmod.test.ts): the real
 * nginx it serves with stores and returns what Bazel's HTTP cache protocol PUTs and GETs under /ac/ and /cas/, writes
 * nothing for any other path, refuses a bad PORT naming it, and stops on SIGTERM with its worker.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "../fixtures/repo";
import { type RunningRemoteCache, startRemoteCache } from "../fixtures/remote-cache";
import { type Digest, parseDigest } from "../../src/oci/digest";
import { BazelCache } from "../../src/transfer/bazel-cache";
import { remoteCacheUrl } from "../../src/transfer/layer-sources";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-remote-cache-"));
const dir = join(tmp, "store");
let cache: RunningRemoteCache | undefined;
afterAll(async () => {
  await cache?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const sha256 = (b: string) => createHash("sha256").update(b).digest("hex");
const put = (path: string, body: string) => fetch(`${cache!.url}${path}`, { method: "PUT", body });

describe("scripts/remote-cache.sh", () => {
  test("serves /cas/HASH and /ac/HASH: PUT stores, GET returns, a missing key is 404", async () => {
    cache = await startRemoteCache(dir);
    const blob = "a blob";
    expect((await put(`/cas/${sha256(blob)}`, blob)).status).toBe(201);
    expect(await (await fetch(`${cache.url}/cas/${sha256(blob)}`)).text()).toBe(blob);
    expect((await put(`/ac/${sha256("action")}`, "result")).status).toBe(201);
    expect((await fetch(`${cache.url}/ac/${sha256("other action")}`)).status).toBe(404);
    expect(readFileSync(join(dir, "cas", sha256(blob)), "utf8")).toBe(blob);
  });

  test("writes nothing for any other path (traversal, other directories, names that are not hashes)", async () => {
    const before = readdirSync(dir).sort();
    for (const path of [
      "/cas/../escape",
      "/cas/%2e%2e/escape",
      "/escape",
      "/cas/abc",
      `/cas/${sha256("x")}/more`,
      `/tmp/${sha256("y")}`,
      "/nginx.conf",
    ]) {
      const r = await put(path, "x");
      expect(r.status, path).toBeGreaterThanOrEqual(400);
    }
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(tmp, "escape"))).toBe(false);
    expect(readdirSync(join(dir, "cas"))).toEqual([sha256("a blob")]);
    // Its own files are not served either.
    expect((await fetch(`${cache!.url}/nginx.conf`)).status).toBe(404);
  });

  test("a bad PORT is refused, naming it; setup again only checks", () => {
    const bad = spawnSync("bash", [join(REPO_ROOT, "scripts", "remote-cache.sh"), "serve", join(tmp, "other"), "80x"], {
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("PORT must be a number from 1 to 65535, got: 80x");
    const again = spawnSync("bash", [join(REPO_ROOT, "scripts", "remote-cache.sh"), "setup"], { encoding: "utf8" });
    expect(again.status).toBe(0);
    expect(again.stdout.trim()).toMatch(/\/usr\/sbin\/nginx$/);
  });

  test("the push's reader (src/transfer/bazel-cache.ts): HEAD and GET /cas/<hex> by a layer's digest, checked as it flows; a missing or wrong blob fails naming it", async () => {
    const bazelCache = new BazelCache(remoteCacheUrl(cache!.url, "test"));
    const read = (d: Digest, size: number) =>
      new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        bazelCache
          .open({ mediaType: "application/octet-stream", digest: d, size })
          .on("data", (c: Buffer) => chunks.push(c))
          .on("error", reject)
          .on("end", () => resolve(Buffer.concat(chunks).toString()));
      });
    const layer = "layer bytes";
    const digest = parseDigest(`sha256:${sha256(layer)}`, "test");
    expect(await bazelCache.has({ mediaType: "application/octet-stream", digest, size: layer.length })).toBe(false);
    await expect(read(digest, layer.length)).rejects.toThrow(`${cache!.url}/cas/${sha256(layer)}: HTTP 404`);
    expect((await put(`/cas/${sha256(layer)}`, layer)).status).toBe(201);
    expect(await bazelCache.has({ mediaType: "application/octet-stream", digest, size: layer.length })).toBe(true);
    expect(await read(digest, layer.length)).toBe(layer);
    // nginx does not check that a name is its content's hash: the reader does.
    const forged = parseDigest(`sha256:${sha256("what the name promises")}`, "test");
    expect((await put(`/cas/${sha256("what the name promises")}`, "other bytes!!!!!!!!!!")).status).toBe(201);
    await expect(read(forged, "what the name promises".length)).rejects.toThrow(`layer ${forged} read from`);
  });

  test("stops on SIGTERM, worker included", async () => {
    const pgrep = (...args: string[]) =>
      spawnSync("pgrep", args, { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    const masters = pgrep("-f", `nginx: master process .* -p ${dir} `);
    expect(masters).toHaveLength(1);
    const all = [...masters, ...pgrep("-P", masters[0])];
    expect(all.length).toBeGreaterThanOrEqual(2);
    await cache!.stop();
    cache = undefined;
    const alive = () => all.filter((pid) => existsSync(`/proc/${pid}`));
    for (let i = 0; i < 50 && alive().length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toEqual([]);
  });
});
