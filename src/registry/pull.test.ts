import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "../oci/digest";
import { parseReference } from "../oci/reference";
import { MediaType } from "../oci/types";
import { anonymousKeychain } from "../auth/anonymous";
import { readLayout, readLayoutIndex } from "../layout/read";
import { startFakeServer, type FakeServer } from "../../test/fixtures/registry";
import { randomImage } from "../../test/fixtures/random-image";
import type { Image } from "../image/image";
import { inspect, pullImage, pullToLayout, resolveDigest } from "./pull";
import { pullIndexToLayout } from "./pull-index";
import type { ProgressSink } from "./progress";

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
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST_LIST, manifests: [entry(arm64, "arm64"), entry(amd64, "amd64")] }),
  );
  const manifests = new Map<string, { bytes: Buffer; type: string }>([
    ["multi", { bytes: index, type: MediaType.DOCKER_MANIFEST_LIST }],
    [sha256(index), { bytes: index, type: MediaType.DOCKER_MANIFEST_LIST }],
    ["single", { bytes: amd64.manifestBytes, type: amd64.mediaType }],
    [amd64.digest, { bytes: amd64.manifestBytes, type: amd64.mediaType }],
    [arm64.digest, { bytes: arm64.manifestBytes, type: arm64.mediaType }],
  ]);
  const blobs = new Map<string, Buffer>();
  for (const img of [amd64, arm64]) {
    blobs.set(img.configBlob.digest, img.configBytes);
    for (const l of img.layers) {
      const chunks: Buffer[] = [];
      for await (const c of l.open()) chunks.push(c as Buffer);
      blobs.set(l.digest, Buffer.concat(chunks));
    }
  }
  server = await startFakeServer(async (req, res) => {
    const [, , , , kind, ref] = new URL(req.url, "http://x").pathname.split("/"); // /v2/r/p/<kind>/<ref>
    const m = kind === "manifests" ? manifests.get(ref) : undefined;
    if (kind === "manifests" && req.method === "GET") manifestGets.push(ref);
    if (m && req.method === "GET" && (ref === amd64.digest || ref === arm64.digest)) {
      platformGets.max = Math.max(platformGets.max, ++platformGets.now);
      for (const until = Date.now() + 2000; platformGets.now < platformGets.hold && platformGets.max < platformGets.hold && Date.now() < until; )
        await new Promise((r) => setTimeout(r, 5));
      platformGets.now--;
    }
    if (m) {
      const headers = { "Content-Type": m.type, "Docker-Content-Digest": sha256(m.bytes), "Content-Length": String(m.bytes.length) };
      return void res.writeHead(200, headers).end(req.method === "HEAD" ? undefined : m.bytes);
    }
    const b = kind === "blobs" ? blobs.get(ref) : undefined;
    if (b) return void res.writeHead(200).end(b);
    res.writeHead(404, { "Content-Type": "application/json" }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
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
    const arm = await pullImage(parseReference(`${server.host}/r/p:multi`), { ...opts, platform: { os: "linux", architecture: "arm64" } });
    expect(arm.digest).toBe(arm64.digest);
  });

  it("says which platforms an index has when the wanted one is missing", async () => {
    const err = await pullImage(parseReference(`${server.host}/r/p:multi`), { ...opts, platform: { os: "windows", architecture: "amd64" } }).catch(
      (e) => e,
    );
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
    for (const l of amd64.layers) expect(events).toEqual(expect.arrayContaining([`start ${l.digest}`, `downloaded ${l.digest}`]));
  });

  it("a missing tag is E_NOT_FOUND", async () => {
    await expect(pullImage(parseReference(`${server.host}/r/p:nope`), opts)).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });
});

describe("resolveDigest and inspect", () => {
  it("resolveDigest gives what the tag points at (the index for a multi-platform tag)", async () => {
    expect(await resolveDigest(parseReference(`${server.host}/r/p:multi`), opts)).toBe(sha256(index));
    expect(await resolveDigest(parseReference(`${server.host}/r/p:single`), opts)).toBe(amd64.digest);
    expect(await resolveDigest(parseReference(`${server.host}/r/p@${amd64.digest}`), opts)).toBe(amd64.digest);
    await expect(resolveDigest(parseReference(`${server.host}/r/p:nope`), opts)).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("inspect gives manifest and config, and the index it went through", async () => {
    const info = await inspect(parseReference(`${server.host}/r/p:multi`), opts);
    expect(info.digest).toBe(amd64.digest);
    expect(info.mediaType).toBe(MediaType.OCI_MANIFEST);
    expect(info.config).toEqual(amd64.config);
    expect(info.index).toEqual({ digest: sha256(index), mediaType: MediaType.DOCKER_MANIFEST_LIST });
  });
});
