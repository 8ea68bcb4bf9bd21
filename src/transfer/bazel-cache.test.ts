/**
 * The cache URL's checks. Reading blobs from a real cache (nginx's WebDAV, what `--remote_cache=http://…` speaks) is in
 * test/e2e/remote-cache-server.test.ts, and a push from it under `--remote_download_minimal` in
 * test/e2e/bazel7-bzlmod.test.ts. A cache that trickles is an in-process server here (the real nginx cannot be made
 * to): held to the minimum transfer rate, and its response destroyed with the stream that reads it (issue #72); the
 * CLI's push from such a cache is in test/e2e/slow-registry.test.ts.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDigest, sha256 } from "../oci/digest";
import { BAZEL_CACHE_SOURCE } from "../layout/remote";
import { MediaType } from "../oci/types";
import { RegistryClient } from "../registry/client";
import { BazelCache } from "./bazel-cache";
import { RECORDED_SOURCES, recordedKind, remoteCacheAt, remoteCacheUrl } from "./layer-sources";

const WHAT = "//pkg:app_push: --@rules_pipeline//bazel:remote_cache";

describe("remoteCacheUrl", () => {
  it("keeps a path prefix and puts blobs under its cas/", () => {
    const digest = parseDigest(`sha256:${"ab".repeat(32)}`, "test");
    expect(new BazelCache(remoteCacheUrl("http://127.0.0.1:8080", WHAT)).blobUrl(digest).href).toBe(
      `http://127.0.0.1:8080/cas/${"ab".repeat(32)}`,
    );
    expect(new BazelCache(remoteCacheUrl("https://cache.example/team", WHAT)).blobUrl(digest).href).toBe(
      `https://cache.example/team/cas/${"ab".repeat(32)}`,
    );
  });

  it("refuses what the push cannot read, naming the flag and the value (never a password)", () => {
    expect(() => remoteCacheUrl("grpc://cache.example:9092", WHAT)).toThrow(
      `${WHAT}: the push reads a cache at http:// or https:// only, got "grpc://cache.example:9092"`,
    );
    expect(() => remoteCacheUrl("cache.example", WHAT)).toThrow(`${WHAT}: not a URL: "cache.example"`);
    let message = "";
    try {
      remoteCacheUrl("https://me:s3cret@cache.example/x", WHAT);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(`${WHAT}: the URL must not carry credentials (https://cache.example/x`);
    expect(message).not.toContain("s3cret");
    expect(() => remoteCacheUrl("http://cache.example/?k=v", WHAT)).toThrow("the URL must have no query or fragment");
  });
});

describe("layer-sources.ts: the one table of where a layer the layout lacks is read", () => {
  it("makes the build cache its URL's scheme names", () => {
    expect(remoteCacheAt("http://127.0.0.1:8080/x", WHAT)).toBeInstanceOf(BazelCache);
    expect(remoteCacheAt("https://cache.example", WHAT)).toBeInstanceOf(BazelCache);
  });

  it("sends each recorded source to its row: the build cache, else a registry's repository", async () => {
    const digest = parseDigest(`sha256:${"cd".repeat(32)}`, "test");
    const layer = { mediaType: MediaType.OCI_LAYER_GZIP, digest, size: 1 };
    const clients: string[] = [];
    const ctx = {
      client: (registry: string) => {
        clients.push(registry);
        return new RegistryClient(registry);
      },
    };
    const cacheKind = recordedKind(BAZEL_CACHE_SOURCE);
    expect(cacheKind.base).toBe(false);
    expect(cacheKind.source(BAZEL_CACHE_SOURCE, ctx)).toEqual({
      unavailable: "the Bazel remote cache (not given: --@rules_pipeline//bazel:remote_cache)",
    });
    const cache = remoteCacheAt("http://127.0.0.1:1/", WHAT);
    expect(cacheKind.source(BAZEL_CACHE_SOURCE, { ...ctx, buildCache: cache })).toBe(cache);
    const base = `registry.example/team/base@sha256:${"ef".repeat(32)}`;
    const baseKind = recordedKind(base);
    expect(baseKind.base).toBe(true);
    const source = baseKind.source(base, ctx);
    expect("unavailable" in source ? source.unavailable : source.where(layer)).toBe("registry.example/team/base");
    expect(clients).toEqual(["registry.example"]);
    expect(recordedKind("not a reference").source("not a reference", ctx)).toEqual({
      unavailable: "not a reference (not a reference)",
    });
    expect(RECORDED_SOURCES.at(-1)?.claims("anything")).toBe(true);
  });
});

describe("BazelCache.open from a cache that trickles", () => {
  const blob = Buffer.alloc(4096, 7);
  const desc = { mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(blob), size: blob.length };
  let server: Server;
  let url: URL;
  /** Resolves when the server sees its response closed (by the client or its end). */
  let closed: Promise<void>;
  /** Called once a request's answer has begun. */
  let answered: () => void = () => undefined;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      closed = new Promise((r) => res.once("close", () => r()));
      res.writeHead(200, { "Content-Length": String(blob.length) });
      let i = 0;
      const timer = setInterval(() => {
        if (i < blob.length) res.write(blob.subarray(i, ++i));
      }, 50);
      res.once("close", () => clearInterval(timer));
      answered();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = remoteCacheUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "test");
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const requested = () =>
    new Promise<void>((r) => {
      answered = r;
    });

  it("is held to the minimum transfer rate: E_REGISTRY_TOO_SLOW naming the cache and the layer", async () => {
    const cache = new BazelCache(url, undefined, { minBytesPerSecond: 1024, windowMs: 200, headersTimeoutMs: 0 });
    const err = await new Promise<Error>((resolve) => cache.open(desc).on("error", resolve).resume());
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    expect(err.message).toContain(
      `read ${desc.digest} from ${cache.blobUrl(desc.digest)}: Bazel remote cache 127.0.0.1:`,
    );
    await closed;
  });

  it("its response is destroyed with the stream reading it, even when the stream gave up before the answer came", async () => {
    const cache = new BazelCache(url, undefined, { minBytesPerSecond: 0, windowMs: 0, headersTimeoutMs: 0 });
    const reading = requested();
    const s = cache.open(desc);
    s.resume();
    await reading;
    await new Promise((r) => setTimeout(r, 100)); // a few bytes flow
    s.destroy();
    await closed; // before, the response stayed open, trickling, for as long as the server went on
    const early = cache.open(desc);
    early.destroy(); // before the request is even sent
    await requested();
    await closed;
  });
});
