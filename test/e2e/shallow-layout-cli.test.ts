/**
 * Shallow layouts without Bazel (issue #61), on two real CNCF registries: `pipeline pull --shallow` writes index,
 * manifest and config only and records where the layers are; `pipeline push` of that layout to ANOTHER registry (no
 * mount possible) streams each base layer registry to registry (the source's access log shows one GET per layer, the
 * target's the uploads) and the image pulls back whole by the same digest; the local runner's image cache
 * (prepareImage, what `pipeline run --image oci:DIR` and `_binary` use) and `verify-image oci:DIR` fetch the missing
 * layers on demand; with the source registry down, a push fails with E_BASE_LAYER_MISSING naming the layer, the base
 * and where it was asked, and puts no manifest.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareImage } from "../../src/container/image-cache";
import { composeIndex } from "../../src/image/image-index";
import { readLayout } from "../../src/layout/read";
import { readRemoteBlobs } from "../../src/layout/remote";
import { digestHex } from "../../src/oci/digest";
import { pushImage } from "../../src/registry/push";
import { pushIndex } from "../../src/registry/push-index";
import { silentProgress } from "../../src/registry/progress";
import { runCli } from "../fixtures/cli";
import { relabel } from "../fixtures/multi-platform";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-shallow-cli-"));
let a: RunningRegistry;
let b: RunningRegistry;
let base: ReturnType<typeof randomImage>;
const layout = join(tmp, "shallow");
const lastLine = (s: string) => s.trim().split("\n").pop()!;
const layerRequests = (reg: RunningRegistry, from: number, method: string) =>
  reg
    .requests()
    .slice(from)
    .filter((r) => r.method === method && base.layers.some((l) => r.path.includes(digestHex(l.digest)))); // ?digest= is escaped

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  base = randomImage({ layers: 3, layerSize: 128 * 1024 });
  await pushImage(base, { registry: a.host, repository: "bases/x" });
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("shallow layouts", () => {
  it("pull --shallow writes no layer and records where each is", async () => {
    const from = a.requests().length;
    const r = await runCli(["pull", `${a.host}/bases/x@${base.digest}`, "--output", layout, "--shallow"]);
    expect(r.code, r.stderr).toBe(0);
    expect(layerRequests(a, from, "GET")).toEqual([]);
    expect(readdirSync(join(layout, "blobs/sha256"))).toHaveLength(2); // manifest and config
    const record = readRemoteBlobs(layout);
    expect([...record.keys()].sort()).toEqual(base.layers.map((l) => l.digest).sort());
    expect([...record.values()].every((e) => e.sources[0] === `${a.host}/bases/x@${base.digest}`)).toBe(true);
    expect(readLayout(layout).digest).toBe(base.digest);
  });

  it("push to another registry streams each layer registry to registry; the image pulls back whole", async () => {
    const fromA = a.requests().length;
    const fromB = b.requests().length;
    const r = await runCli(["push", layout, "--repository", `${b.host}/copy`, "--tag", "v1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toBe(`${b.host}/copy@${base.digest}`);
    expect(layerRequests(a, fromA, "GET")).toHaveLength(3);
    expect(layerRequests(b, fromB, "PUT")).toHaveLength(3); // each closed by a PUT ?digest=
    expect(readdirSync(join(layout, "blobs/sha256"))).toHaveLength(2); // nothing written into the layout

    const out = join(tmp, "back");
    const p = await runCli(["pull", `${b.host}/copy:v1`, "--output", out]);
    expect(p.code, p.stderr).toBe(0);
    expect(readLayout(out, { refName: "v1" }).digest).toBe(base.digest);
    for (const l of base.layers) expect(existsSync(join(out, "blobs/sha256", digestHex(l.digest)))).toBe(true);
  });

  it("the runner's image cache fetches the missing layers on demand (run --image oci:DIR, _binary)", async () => {
    const from = a.requests().length;
    const downloaded: string[] = [];
    const progress = {
      ...silentProgress,
      blobDone: (d: string, outcome: string) => downloaded.push(`${outcome} ${d}`),
    };
    const prepared = await prepareImage(`oci:${layout}`, { cacheDir: join(tmp, "cache"), progress });
    expect(prepared.digest).toBe(base.digest);
    for (let i = 0; i < 3; i++) expect(readFileSync(join(prepared.rootfs, `layer-${i}.bin`)).length).toBe(128 * 1024);
    expect(layerRequests(a, from, "GET")).toHaveLength(3);
    // Each download is shown, as a pull's are.
    expect(downloaded.sort()).toEqual(base.layers.map((l) => `downloaded ${l.digest}`).sort());
  });

  it("verify-image oci:DIR reads the missing layers from the registry", async () => {
    const from = a.requests().length;
    const r = await runCli(["verify-image", `oci:${layout}`]);
    // The generated base has no node: the contract is not met, but every layer was read to say so.
    expect(r.stdout + r.stderr).not.toContain("E_BASE_LAYER_MISSING");
    expect(r.stdout).toContain("node");
    expect(layerRequests(a, from, "GET")).toHaveLength(3);
  });

  it("a multi-platform base: pull --shallow --all-platforms records each platform's layers; its push streams them", async () => {
    const idx = composeIndex([base, relabel(base, "arm64", "v8")]);
    await pushIndex(idx, { registry: a.host, repository: "bases/multi" });
    const dir = join(tmp, "multi");
    const r = await runCli([
      "pull",
      `${a.host}/bases/multi@${idx.digest}`,
      "--output",
      dir,
      "--shallow",
      "--all-platforms",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, "blobs/sha256"))).toHaveLength(5); // the index, two manifests, two configs
    const record = readRemoteBlobs(dir);
    expect([...record.keys()].sort()).toEqual(base.layers.map((l) => l.digest).sort());
    // The platforms share the layers: each entry names both platforms' manifests.
    const sources = idx.images.map((i) => `${a.host}/bases/multi@${i.digest}`);
    for (const e of record.values()) expect(e.sources).toEqual(sources);

    const fromA = a.requests().length;
    const p = await runCli(["push", dir, "--repository", `${b.host}/multi`]);
    expect(p.code, p.stderr).toBe(0);
    expect(lastLine(p.stdout)).toBe(`${b.host}/multi@${idx.digest}`);
    expect(layerRequests(a, fromA, "GET")).toHaveLength(3); // each shared layer streamed once
  });

  it("a manifest naming one layer with two sizes is refused before anything is written, shallow or not: the good layout at --output survives (issue #72)", async () => {
    const good = join(tmp, "good");
    const first = await runCli(["pull", `${a.host}/bases/x@${base.digest}`, "--output", good, "--shallow"]);
    expect(first.code, first.stderr).toBe(0);
    const [l0, l1] = base.manifest.layers;
    const twoSizes = { ...base.manifest, layers: [l0, l1, { ...l0, size: l0.size + 1 }] };
    const put = await fetch(`http://${a.host}/v2/bases/x/manifests/two-sizes`, {
      method: "PUT",
      headers: { "Content-Type": base.mediaType },
      body: JSON.stringify(twoSizes),
    });
    expect(put.status, await put.text()).toBe(201); // the real registry takes it: it checks that each blob exists
    for (const shallow of [["--shallow"], []]) {
      const r = await runCli(["pull", `${a.host}/bases/x:two-sizes`, "--output", good, ...shallow]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain("error[E_DIGEST_MISMATCH]");
      expect(r.stderr).toContain(
        `layers[2]: ${l0.digest} is listed with size ${l0.size + 1}, and with size ${l0.size} at layers[0]`,
      );
      expect(readLayout(good).digest).toBe(base.digest);
    }
  });

  it("with the base's registry down, the push fails naming layer, base and where; no manifest is put", async () => {
    await a.stop();
    const r = await runCli(["push", layout, "--repository", `${b.host}/other`, "--tag", "v1"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("E_BASE_LAYER_MISSING");
    expect(base.layers.some((l) => r.stderr.includes(l.digest))).toBe(true);
    expect(r.stderr).toContain(`of base ${a.host}/bases/x@${base.digest}`);
    expect(r.stderr).toContain(`asked ${a.host}/bases/x (`);
    const m = await fetch(`http://${b.host}/v2/other/manifests/${base.digest}`, { method: "HEAD" });
    expect(m.status).toBe(404);
  });
});
