import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { globalAgent } from "node:http";
import type { PipelineError } from "../errors";
import { join } from "node:path";
import { sha256 } from "../oci/digest";
import { parseReference } from "../oci/reference";
import { MediaType } from "../oci/types";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { readLayout, readLayoutIndex } from "../layout/read";
import { startFakeServer, type FakeServer } from "../../test/fixtures/registry";
import { randomImage } from "../../test/fixtures/random-image";
import type { Image } from "../oci/model";
import { inspect, pullImage, resolveDigest } from "../registry/pull";
import { pullIndexToLayout, pullToLayout } from "./pull";
import type { ProgressSink } from "../registry/progress";

/** Every blob of `images` (configs and layers) by digest: what a fake registry serves. */
async function blobsOf(images: Image[]): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  for (const img of images) {
    blobs.set(img.configBlob.digest, img.configBytes);
    for (const l of img.layers) {
      const chunks: Buffer[] = [];
      for await (const c of l.open()) chunks.push(c as Buffer);
      blobs.set(l.digest, Buffer.concat(chunks));
    }
  }
  return blobs;
}

const opts = { keychain: anonymousKeychain, retry: { retries: 0, baseDelayMs: 1 } };

/** A read-only registry over in-memory images, with a multi-platform index under tag "multi". */
let server: FakeServer;
let amd64: Image;
let arm64: Image;
let index: Buffer;
let tmp: string;
/** Platform manifest GETs in flight now and at most; with `holdPlatforms`, each waits (at most 2 s) until that many are. */
const platformGets = { now: 0, max: 0, hold: 0 };
/** The reference of every manifest GET, in order. */
const manifestGets: string[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "pull-test-"));
  amd64 = randomImage({ layers: 2 });
  arm64 = randomImage({ layers: 1 });
  const entry = (img: Image, architecture: string) => ({
    mediaType: img.mediaType,
    digest: img.digest,
    size: img.manifestBytes.length,
    platform: { os: "linux", architecture },
  });
  index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DOCKER_MANIFEST_LIST,
      manifests: [entry(arm64, "arm64"), entry(amd64, "amd64")],
    }),
  );
  const manifests = new Map<string, { bytes: Buffer; type: string }>([
    ["multi", { bytes: index, type: MediaType.DOCKER_MANIFEST_LIST }],
    [sha256(index), { bytes: index, type: MediaType.DOCKER_MANIFEST_LIST }],
    ["single", { bytes: amd64.manifestBytes, type: amd64.mediaType }],
    [amd64.digest, { bytes: amd64.manifestBytes, type: amd64.mediaType }],
    [arm64.digest, { bytes: arm64.manifestBytes, type: arm64.mediaType }],
  ]);
  const blobs = await blobsOf([amd64, arm64]);
  server = await startFakeServer(async (req, res) => {
    const [, , , , kind, ref] = new URL(req.url, "http://x").pathname.split("/"); // /v2/r/p/<kind>/<ref>
    const m = kind === "manifests" ? manifests.get(ref) : undefined;
    if (kind === "manifests" && req.method === "GET") manifestGets.push(ref);
    if (m && req.method === "GET" && (ref === amd64.digest || ref === arm64.digest)) {
      platformGets.max = Math.max(platformGets.max, ++platformGets.now);
      for (
        const until = Date.now() + 2000;
        platformGets.now < platformGets.hold && platformGets.max < platformGets.hold && Date.now() < until;
      )
        await new Promise((r) => setTimeout(r, 5));
      platformGets.now--;
    }
    if (m) {
      const headers = {
        "Content-Type": m.type,
        "Docker-Content-Digest": sha256(m.bytes),
        "Content-Length": String(m.bytes.length),
      };
      return void res.writeHead(200, headers).end(req.method === "HEAD" ? undefined : m.bytes);
    }
    const b = kind === "blobs" ? blobs.get(ref) : undefined;
    if (b) return void res.writeHead(200).end(b);
    res
      .writeHead(404, { "Content-Type": "application/json" })
      .end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
});
afterAll(async () => {
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pullIndexToLayout", () => {
  it("fetches the platforms' manifests several at once and writes the index whole", async () => {
    Object.assign(platformGets, { max: 0, hold: 2 });
    const dir = join(tmp, "index-layout");
    try {
      const r = await pullIndexToLayout(parseReference(`${server.host}/r/p:multi`), dir, "all", opts);
      expect(r.digest).toBe(sha256(index));
      expect(r.manifests.map((m) => m.digest)).toEqual([arm64.digest, amd64.digest]);
      expect(platformGets.max).toBe(2); // one after the other, never more than one was asked at a time
      expect(readLayoutIndex(dir)?.manifests.map((m) => m.image.digest)).toEqual([arm64.digest, amd64.digest]);
    } finally {
      platformGets.hold = 0;
    }
  });

  it("asks for a tag naming a single image once, and writes that image", async () => {
    manifestGets.length = 0;
    const dir = join(tmp, "single-layout");
    const r = await pullIndexToLayout(parseReference(`${server.host}/r/p:single`), dir, "all", opts);
    expect(r.digest).toBe(amd64.digest);
    expect(manifestGets).toEqual(["single"]); // the image's manifest is not fetched again by its digest
    expect(readLayout(dir).digest).toBe(amd64.digest);
  });
});

describe("pullImage", () => {
  it("picks linux/amd64 from an index by default, or the platform asked for", async () => {
    const img = await pullImage(parseReference(`${server.host}/r/p:multi`), opts);
    expect(img.digest).toBe(amd64.digest);
    expect(img.layers.map((l) => l.diffId)).toEqual(amd64.layers.map((l) => l.diffId));
    const arm = await pullImage(parseReference(`${server.host}/r/p:multi`), {
      ...opts,
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(arm.digest).toBe(arm64.digest);
  });

  it("says which platforms an index has when the wanted one is missing", async () => {
    const err = await pullImage(parseReference(`${server.host}/r/p:multi`), {
      ...opts,
      platform: { os: "windows", architecture: "amd64" },
    }).catch((e) => e);
    expect(err.code).toBe("E_PLATFORM");
    expect(err.message).toContain("linux/arm64, linux/amd64");
  });

  it("streams layers that verify, reporting progress", async () => {
    const events: string[] = [];
    const progress: ProgressSink = {
      blobStart: (d) => events.push(`start ${d}`),
      blobProgress: () => undefined,
      blobDone: (d, how) => events.push(`${how} ${d}`),
      skip: () => undefined,
    };
    const dir = join(tmp, "layout");
    expect(await pullToLayout(parseReference(`${server.host}/r/p:single`), dir, { ...opts, progress })).toEqual({
      digest: amd64.digest,
      refName: "single",
    });
    const back = readLayout(dir, { refName: "single" });
    expect(back.digest).toBe(amd64.digest);
    expect(readdirSync(join(dir, "blobs", "sha256"))).toHaveLength(4);
    for (const l of amd64.layers)
      expect(events).toEqual(expect.arrayContaining([`start ${l.digest}`, `downloaded ${l.digest}`]));
  });

  it("a missing tag is E_NOT_FOUND", async () => {
    await expect(pullImage(parseReference(`${server.host}/r/p:nope`), opts)).rejects.toMatchObject({
      code: "E_NOT_FOUND",
    });
  });
});

describe("resolveDigest and inspect", () => {
  it("resolveDigest gives what the tag points at (the index for a multi-platform tag)", async () => {
    expect(await resolveDigest(parseReference(`${server.host}/r/p:multi`), opts)).toBe(sha256(index));
    expect(await resolveDigest(parseReference(`${server.host}/r/p:single`), opts)).toBe(amd64.digest);
    expect(await resolveDigest(parseReference(`${server.host}/r/p@${amd64.digest}`), opts)).toBe(amd64.digest);
    await expect(resolveDigest(parseReference(`${server.host}/r/p:nope`), opts)).rejects.toMatchObject({
      code: "E_NOT_FOUND",
    });
  });

  it("inspect gives manifest and config, and the index it went through", async () => {
    const info = await inspect(parseReference(`${server.host}/r/p:multi`), opts);
    expect(info.digest).toBe(amd64.digest);
    expect(info.mediaType).toBe(MediaType.OCI_MANIFEST);
    expect(info.config).toEqual(amd64.config);
    expect(info.index).toEqual({ digest: sha256(index), mediaType: MediaType.DOCKER_MANIFEST_LIST });
  });
});

describe("pullToLayout's early layer requests", () => {
  /** Layers of 2 MiB of random bytes: more than a socket's buffers take while nobody reads. */
  const big = { layers: 3, layerSize: 2 << 20 };
  let early: Image;
  let noConfig: Image;
  let noLayer: Image;
  let srv: FakeServer;
  let dir: string;
  /** Layer GETs the registry received while it held the config's answer. */
  let layersWhileConfigHeld = -1;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "pull-early-"));
    [early, noConfig, noLayer] = [randomImage(big), randomImage(big), randomImage(big)];
    const blobs = await blobsOf([early, noConfig, noLayer]);
    blobs.delete(noConfig.configBlob.digest);
    blobs.delete(noLayer.layers[1].digest);
    const tags = new Map([
      ["early", early],
      ["no-config", noConfig],
      ["no-layer", noLayer],
    ]);
    srv = await startFakeServer(async (req, res) => {
      const [, , , , kind, ref] = new URL(req.url, "http://x").pathname.split("/");
      const img = kind === "manifests" ? tags.get(ref) : undefined;
      if (img) return void res.writeHead(200, { "Content-Type": img.mediaType }).end(img.manifestBytes);
      if (ref === early.configBlob.digest) {
        // Hold the config's answer until the image's layers were asked for (at most 2 s).
        const layerGets = () => srv.requests.filter((q) => early.layers.some((l) => q.url.endsWith(l.digest))).length;
        for (const until = Date.now() + 2000; layerGets() < early.layers.length && Date.now() < until; )
          await new Promise((r) => setTimeout(r, 5));
        layersWhileConfigHeld = layerGets();
      }
      const b = kind === "blobs" ? blobs.get(ref) : undefined;
      if (!b)
        return void res
          .writeHead(404, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
      res.writeHead(200, { "Content-Length": String(b.length) }).end(b);
    });
  });
  afterAll(async () => {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * TCP sockets of this process, client's and server's ends alike, once node:http's agent closed its keep-alive ones:
   * layers are downloaded over connections of their own (blob-fetch.ts), which no agent lists, and a download neither
   * read to its end nor stopped keeps its socket open.
   */
  const openSockets = () => {
    globalAgent.destroy();
    return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
  };
  /** Runs `pull`; then waits at most 2 s for this process's sockets to be as many as before, and says how many more there are. */
  const socketsLeftBy = async (pull: () => Promise<unknown>) => {
    const before = openSockets();
    await pull();
    for (const until = Date.now() + 2000; openSockets() > before && Date.now() < until; )
      await new Promise((r) => setTimeout(r, 10));
    return openSockets() - before;
  };

  it("asks for the first layers before the config has arrived, and writes the image", async () => {
    const out = join(dir, "early");
    expect((await pullToLayout(parseReference(`${srv.host}/r/p:early`), out, opts)).digest).toBe(early.digest);
    expect(layersWhileConfigHeld).toBe(early.layers.length);
    expect(readLayout(out).digest).toBe(early.digest);
  });

  it("a config that cannot be had: its error, the layers' connections closed, nothing written", async () => {
    const out = join(dir, "no-config");
    let err: PipelineError | undefined;
    expect(
      await socketsLeftBy(
        async () => (err = await pullToLayout(parseReference(`${srv.host}/r/p:no-config`), out, opts).catch((e) => e)),
      ),
    ).toBeLessThanOrEqual(0);
    expect(err?.code).toBe("E_NOT_FOUND");
    expect(err?.message).toContain(noConfig.configBlob.digest);
    expect(readdirSync(dir).filter((n) => n.includes("no-config"))).toEqual([]);
  });

  it("a layer that fails before the writer reads it: that layer's error, nothing written", async () => {
    const out = join(dir, "no-layer");
    let err: PipelineError | undefined;
    expect(
      await socketsLeftBy(
        async () => (err = await pullToLayout(parseReference(`${srv.host}/r/p:no-layer`), out, opts).catch((e) => e)),
      ),
    ).toBeLessThanOrEqual(0);
    expect(err?.code).toBe("E_NOT_FOUND");
    expect(err?.message).toContain(noLayer.layers[1].digest);
    expect(readdirSync(dir).filter((n) => n.includes("no-layer"))).toEqual([]);
  });
});

describe("a config's descriptor size (issue #41)", () => {
  // A registry serving a config other than its declared size: the real one cannot be made to, so a fake.
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [],
    }),
  );
  let sent = 0;
  let s: FakeServer;
  beforeAll(async () => {
    s = await startFakeServer(async (req, res) => {
      if (req.url.includes("/manifests/"))
        return void res.writeHead(200, { "Content-Type": MediaType.OCI_MANIFEST }).end(manifest);
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      if (req.url.includes("/r/short/")) return void res.end(config.subarray(0, 10));
      // Endless: 64 KiB chunks for as long as the client reads.
      sent = 0;
      const chunk = Buffer.alloc(64 * 1024, "x");
      const more = () => {
        while (!res.destroyed && sent < 256 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
      };
      more();
    });
  });
  afterAll(async () => {
    await s.stop();
  });

  it("is enforced as a layer's: an endless config is cut at its declared size, the message naming declared and received", async () => {
    const err = await inspect(parseReference(`${s.host}/r/endless:v1`), opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect((err as Error).message).toMatch(
      new RegExp(`the descriptor declares ${config.length} bytes and the registry sent more \\(\\d+ bytes received`),
    );
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  });

  it("a short config names both sizes", async () => {
    const err = await inspect(parseReference(`${s.host}/r/short:v1`), opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect((err as Error).message).toContain(
      `the descriptor declares ${config.length} bytes and the registry sent 10 bytes`,
    );
  });
});
