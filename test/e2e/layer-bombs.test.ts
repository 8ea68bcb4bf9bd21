/**
 * Layer bombs (issue #9) against the real CLI, each in its own process so its peak memory can be measured
 * (test/fixtures/measured-cli.ts):
 *  - a 6.8 MB layer of 6,000 PAX headers of 1 MiB each: `pipeline verify-image` and `pipeline run` refuse it with
 *    E_TAR_READ naming the layer, under 300 MB of memory, leaving no temporary rootfs behind;
 *  - a 6.3 MB layer that expands to 6 GiB of zeros: refused with E_LAYER_TOO_LARGE by default settings before
 *    1 GiB is written (the cache is watched while it runs), the message naming the layer, the limit and the flag;
 *  - the free-space reserve (E_NO_SPACE) and the flags that raise the limits;
 *  - `pipeline model pull` of a model whose directory layer is that bomb (a real registry), and of a model whose
 *    files would not fit (refused before any blob is downloaded); `pipeline run` and `pipeline pull` of an image
 *    whose blobs would eat into the reserve, refused by the manifest's sizes before any layer is downloaded.
 */
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousKeychain } from "../../src/registry-auth/anonymous";
import { composeImage } from "../../src/image/compose";
import { bufferBlob } from "../../src/layer/blob";
import { buildLayer } from "../../src/layer/build";
import type { Layer } from "../../src/oci/model";
import { writeLayout } from "../../src/layout/write";
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES } from "../../src/weights/artifact";
import { MODEL_ARTIFACT_TYPE } from "../../src/weights";
import { type Digest, sha256 } from "../../src/oci/digest";
import { type Descriptor, MediaType } from "../../src/oci/types";
import { RegistryClient } from "../../src/registry/client";
import { pushImage } from "../../src/registry/push";
import { uploadBlob } from "../../src/registry/upload";
import { randomImage } from "../fixtures/random-image";
import { type Bomb, paxBomb, zeroBomb } from "../corpus/bombs";
import { execProgram, pipelineCli } from "../fixtures/cli";
import { bytesUnder, leftovers, measuredCli } from "../fixtures/measured-cli";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { mark, requestsSince } from "../fixtures/registry-log";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

let tmp: string;
let paxLayout: string;
let pax: Bomb;
let zeroLayout: string;
let zero: Bomb;
let cli: ReturnType<typeof measuredCli>;

async function layoutOf(bomb: Bomb, dir: string): Promise<string> {
  const layer: Layer = {
    digest: bomb.digest,
    diffId: bomb.diffId,
    size: bomb.size,
    mediaType: MediaType.OCI_LAYER_GZIP,
    path: bomb.path,
    open: () => createReadStream(bomb.path),
  };
  const image = composeImage({
    layers: [{ layer, createdBy: "bomb" }],
    entrypoint: ["/bin/true"],
    os: "linux",
    architecture: "amd64",
  });
  await writeLayout(dir, image, { refName: "latest" });
  return dir;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bombs-"));
  cli = measuredCli(tmp);
  pax = paxBomb(join(tmp, "pax.tar.gz"));
  zero = zeroBomb(join(tmp, "zero.tar.gz"));
  expect(pax.size).toBeLessThan(8e6);
  expect(pax.expanded).toBeGreaterThan(6e9);
  expect(zero.size).toBeLessThan(8e6);
  expect(zero.expanded).toBeGreaterThan(6 * GiB);
  paxLayout = await layoutOf(pax, join(tmp, "pax-layout"));
  zeroLayout = await layoutOf(zero, join(tmp, "zero-layout"));
  await pipelineCli();
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the PAX header bomb", () => {
  it("verify-image: E_TAR_READ naming the layer, under 300 MB of memory", async () => {
    const r = await cli(["verify-image", `oci:${paxLayout}`]);
    expect(r.stderr).toContain("error[E_TAR_READ]");
    expect(r.stderr).toContain(pax.digest);
    expect(r.code).toBe(1);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("run: E_TAR_READ naming the layer, under 300 MB of memory, nothing left in the cache", async () => {
    const cacheDir = join(tmp, "cache-pax");
    const r = await cli(["run", "--image", `oci:${paxLayout}`, "--cache-dir", cacheDir]);
    expect(r.stderr).toContain("error[E_TAR_READ]");
    expect(r.stderr).toContain(pax.digest);
    expect(r.code).toBe(1);
    expect(r.maxRssMiB).toBeLessThan(300);
    expect(leftovers(cacheDir)).toEqual([]);
  });
});

describe("the decompression bomb (6 GiB of zeros)", () => {
  it("run, default settings: E_LAYER_TOO_LARGE before 1 GiB is written, naming the layer, limit and flag", async () => {
    const cacheDir = join(tmp, "cache-zero");
    let most = 0;
    const r = await cli(
      ["run", "--image", `oci:${zeroLayout}`, "--cache-dir", cacheDir],
      () => (most = Math.max(most, bytesUnder(cacheDir))),
    );
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain(zero.digest);
    expect(r.stderr).toContain("--max-layer-ratio");
    expect(r.stderr).toContain("PIPELINE_MAX_LAYER_RATIO");
    expect(r.code).toBe(1);
    most = Math.max(most, bytesUnder(cacheDir));
    expect(most).toBeLessThan(GiB);
    expect(leftovers(cacheDir)).toEqual([]);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("verify-image refuses it too, without running away in time or memory", async () => {
    const t0 = Date.now();
    const r = await cli(["verify-image", `oci:${zeroLayout}`]);
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain(zero.digest);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("with the ratio raised, the per-image cap stops it (and names its own flag); env sets limits too", async () => {
    const cacheDir = join(tmp, "cache-zero-raised");
    let most = 0;
    const r = await cli(
      [
        "run",
        "--image",
        `oci:${zeroLayout}`,
        "--cache-dir",
        cacheDir,
        "--max-layer-ratio",
        "5000",
        "--max-unpacked-size",
        "300MiB",
      ],
      () => (most = Math.max(most, bytesUnder(cacheDir))),
    );
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain("--max-unpacked-size");
    expect(r.stderr).toContain("300 MiB");
    expect(r.code).toBe(1);
    expect(Math.max(most, bytesUnder(cacheDir))).toBeLessThan(400 * MiB);
    expect(leftovers(cacheDir)).toEqual([]);

    const e = await execProgram(process.execPath, [await pipelineCli(), "verify-image", `oci:${zeroLayout}`], {
      env: { ...process.env, PIPELINE_MAX_LAYER_RATIO: "5000", PIPELINE_MAX_UNPACKED_SIZE: "200MiB" },
    });
    expect(e.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(e.stderr).toContain("200 MiB");
    expect(e.stderr).toContain("PIPELINE_MAX_UNPACKED_SIZE");
  });

  it("a free-space reserve larger than the disk: E_NO_SPACE before anything is written", async () => {
    const cacheDir = join(tmp, "cache-reserve");
    const r = await cli([
      "run",
      "--image",
      `oci:${zeroLayout}`,
      "--cache-dir",
      cacheDir,
      "--min-free-space",
      "1000TiB",
    ]);
    expect(r.stderr).toContain("error[E_NO_SPACE]");
    expect(r.stderr).toContain(zero.digest);
    expect(r.stderr).toContain("--min-free-space");
    expect(r.code).toBe(1);
    expect(leftovers(cacheDir)).toEqual([]);
  });

  it("a bad limit value is a usage error naming the flag and the value", async () => {
    const r = await cli([
      "run",
      "--image",
      `oci:${zeroLayout}`,
      "--cache-dir",
      join(tmp, "cache-bad"),
      "--max-unpacked-size",
      "lots",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--max-unpacked-size");
    expect(r.stderr).toContain('"lots"');
  });
});

describe("model pull", () => {
  let reg: RunningRegistry;
  const ORAS_TITLE = "org.opencontainers.image.title";

  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  async function putModel(repo: string, layers: { bytes: Buffer; desc: Descriptor }[]): Promise<string> {
    const client = new RegistryClient(reg.host, { keychain: anonymousKeychain, access: "push" });
    for (const b of [{ bytes: EMPTY_CONFIG_BYTES, desc: EMPTY_CONFIG }, ...layers])
      await uploadBlob(client, repo, bufferBlob(b.bytes, b.desc.mediaType));
    const m = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType: MODEL_ARTIFACT_TYPE,
      config: EMPTY_CONFIG,
      layers: layers.map((l) => l.desc),
    };
    await client.putManifest(repo, "v1", Buffer.from(JSON.stringify(m)), MediaType.OCI_MANIFEST);
    return `${reg.host}/${repo}:v1`;
  }

  function treeDesc(d: { digest: Digest; size: number; diffId: string }): Descriptor {
    const annotations = {
      "io.deis.oras.content.digest": d.diffId,
      "io.deis.oras.content.unpack": "true",
      [ORAS_TITLE]: "model",
    };
    return { mediaType: MediaType.OCI_LAYER_GZIP, digest: d.digest, size: d.size, annotations };
  }

  it("a directory layer that is a 6 GiB bomb: E_LAYER_TOO_LARGE naming the model and layer, < 1 GiB written, no output", async () => {
    const bomb = zeroBomb(join(tmp, "model-bomb.tar.gz"), 6 * GiB, "model/zeros");
    const ref = await putModel("models/bomb", [{ bytes: readFileSync(bomb.path), desc: treeDesc(bomb) }]);
    const parent = join(tmp, "model-out");
    let most = 0;
    const r = await cli(
      ["model", "pull", ref, "--output", join(parent, "m")],
      () => (most = Math.max(most, bytesUnder(parent))),
    );
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain(`model ${reg.host}/models/bomb@sha256:`);
    expect(r.stderr).toContain(`directory layer ${bomb.digest}`);
    expect(r.stderr).toContain("--max-layer-ratio");
    expect(r.code).toBe(1);
    expect(Math.max(most, bytesUnder(parent))).toBeLessThan(GiB);
    expect(existsSync(parent) ? readdirSync(parent) : []).toEqual([]);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("run and pull of an image that would eat into the free-space reserve: E_NO_SPACE before any blob is downloaded", async () => {
    const image = randomImage({ layers: 2 });
    const pushed = await pushImage(image, { registry: reg.host, repository: "images/big", tags: ["v1"] });
    for (const [args, env] of [
      [
        [
          "run",
          "--image",
          pushed.reference,
          "--cache-dir",
          join(tmp, "cache-reserve-pull"),
          "--min-free-space",
          "1000TiB",
        ],
        {},
      ],
      [["pull", pushed.reference, "--output", join(tmp, "pulled-big")], { PIPELINE_MIN_FREE_SPACE: "1000TiB" }],
    ] as const) {
      const at = await mark(reg);
      const r = await cli([...args], undefined, env);
      expect(r.stderr).toContain("error[E_NO_SPACE]");
      expect(r.stderr).toContain(`${pushed.reference}: downloading its 2 layer(s)`);
      expect(r.code).toBe(1);
      expect(
        (await requestsSince(reg, at)).filter(
          (q) => q.method === "GET" && q.path.includes("/blobs/") && !q.path.includes(image.manifest.config.digest),
        ),
      ).toEqual([]);
    }
  });

  it("files that would eat into the free-space reserve: E_NO_SPACE before any blob is downloaded", async () => {
    const path = join(tmp, "small-tree.tar.gz");
    const d = await buildLayer([{ dest: "model", dir: true }], path, { mtime: 0 });
    const weights = Buffer.alloc(4096, 7);
    const file = {
      bytes: weights,
      desc: {
        mediaType: "application/octet-stream",
        digest: sha256(weights),
        size: weights.length,
        annotations: { [ORAS_TITLE]: "model/w.bin" },
      },
    };
    const ref = await putModel("models/big", [{ bytes: readFileSync(path), desc: treeDesc(d) }, file]);
    const at = await mark(reg);
    const out = join(tmp, "model-big-out", "m");
    const r = await cli(["model", "pull", ref, "--output", out, "--min-free-space", "1000TiB"]);
    expect(r.stderr).toContain("error[E_NO_SPACE]");
    expect(r.stderr).toContain("writing its 1 file layer(s) (4.0 KiB)");
    expect(r.stderr).toContain("--min-free-space");
    expect(r.code).toBe(1);
    expect((await requestsSince(reg, at)).filter((q) => q.method === "GET" && q.path.includes("/blobs/"))).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });
});
