import { describe, expect, it } from "vitest";
import { createServer } from "node:http";
import { networkInterfaces } from "node:os";
import type { AddressInfo } from "node:net";
import { parseDigest, sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { useFakeServers } from "../../test/fixtures/fake-servers";
import { MANIFEST_ACCEPT, nextLink, RegistryClient } from "./client";

const FAST = { retries: 0, baseDelayMs: 1, timeoutMs: 5000 };
const serve = useFakeServers();
const client = (host: string, opts = {}) =>
  new RegistryClient(host, { keychain: anonymousKeychain, retry: FAST, ...opts });

const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: {}, layers: [] }),
);
const digest = sha256(manifest);

describe("scheme", () => {
  it("uses http for loopback registries and https for others, unless told", async () => {
    expect((await client("localhost:5000").baseUrl()).href).toBe("http://localhost:5000/");
    expect((await client("127.0.0.1:5000").baseUrl()).href).toBe("http://127.0.0.1:5000/");
    expect((await client("[::1]:5000").baseUrl()).href).toBe("http://[::1]:5000/");
    expect((await client("ghcr.io").baseUrl()).href).toBe("https://ghcr.io/");
    expect((await client("ghcr.io", { scheme: "http" }).baseUrl()).href).toBe("http://ghcr.io/");
    // A DNS name that starts like a loopback address is not one: HTTPS.
    expect((await client("127.x.example:5000").baseUrl()).href).toBe("https://127.x.example:5000/");
    expect((await client("127.0.0.1.example.com").baseUrl()).href).toBe("https://127.0.0.1.example.com/");
  });

  it("an insecure non-loopback registry falls back to http when https fails", async (ctx) => {
    const ip = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    if (!ip) return ctx.skip();
    const server = createServer((_req, res) => res.writeHead(200).end("{}"));
    await new Promise<void>((r) => server.listen(0, ip, r));
    try {
      const host = `${ip}:${(server.address() as AddressInfo).port}`;
      const c = client(host, { insecure: true });
      expect((await c.baseUrl()).protocol).toBe("http:");
      await c.ping();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("rejects registry names that are not hosts", () => {
    expect(() => client("https://ghcr.io")).toThrow(/registry host/);
  });
});

describe("manifests", () => {
  it("GETs with an Accept for OCI and Docker manifests and indexes, and checks the digest", async () => {
    const s = await serve(
      (_req, res) =>
        void res
          .writeHead(200, { "Content-Type": MediaType.OCI_MANIFEST, "Docker-Content-Digest": digest })
          .end(manifest),
    );
    const got = await client(s.host).getManifest("a/b", digest);
    expect(got).toEqual({ bytes: manifest, mediaType: MediaType.OCI_MANIFEST, digest });
    const accept = String(s.requests[0].headers.accept);
    for (const t of [
      MediaType.OCI_MANIFEST,
      MediaType.DOCKER_MANIFEST,
      MediaType.OCI_INDEX,
      MediaType.DOCKER_MANIFEST_LIST,
    ])
      expect(accept).toContain(t);
    expect(accept).toBe(MANIFEST_ACCEPT);
  });

  it("takes the media type from the body when Content-Type is generic", async () => {
    const s = await serve((_req, res) => void res.writeHead(200, { "Content-Type": "application/json" }).end(manifest));
    expect((await client(s.host).getManifest("a/b", "latest")).mediaType).toBe(MediaType.OCI_MANIFEST);
  });

  it("rejects a manifest whose bytes do not match the digest asked for or the one announced", async () => {
    const s = await serve((req, res) => {
      if (req.url.endsWith("/latest"))
        return void res
          .writeHead(200, { "Content-Type": MediaType.OCI_MANIFEST, "Docker-Content-Digest": sha256("other") })
          .end(manifest);
      res.writeHead(200, { "Content-Type": MediaType.OCI_MANIFEST }).end(manifest);
    });
    await expect(client(s.host).getManifest("a/b", sha256("other"))).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    await expect(client(s.host).getManifest("a/b", "latest")).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
  });

  it("HEAD answers digest and media type, or undefined for 404", async () => {
    const s = await serve((req, res) => {
      if (req.url.endsWith("/missing")) return void res.writeHead(404).end();
      res
        .writeHead(200, {
          "Content-Type": MediaType.OCI_MANIFEST,
          "Docker-Content-Digest": digest,
          "Content-Length": String(manifest.length),
        })
        .end();
    });
    expect(await client(s.host).headManifest("a/b", "v1")).toEqual({
      digest,
      mediaType: MediaType.OCI_MANIFEST,
      size: manifest.length,
    });
    expect(await client(s.host).headManifest("a/b", "missing")).toBeUndefined();
    expect(s.requests[0].method).toBe("HEAD");
  });

  it("PUTs the exact bytes with the media type and confirms the digest", async () => {
    const s = await serve((req, res) => void res.writeHead(201, { "Docker-Content-Digest": sha256(req.body) }).end());
    expect(await client(s.host).putManifest("a/b", "v1", manifest, MediaType.OCI_MANIFEST)).toBe(digest);
    expect(s.requests[0].body.equals(manifest)).toBe(true);
    expect(s.requests[0].headers["content-type"]).toBe(MediaType.OCI_MANIFEST);
    expect(s.requests[0].url).toBe("/v2/a/b/manifests/v1");
  });

  it("confirms with a HEAD by digest when the PUT answer has no Docker-Content-Digest", async () => {
    let stored = false;
    const s = await serve((req, res) => {
      if (req.method === "PUT") return void ((stored = true), res.writeHead(201).end());
      if (req.method === "HEAD" && stored && req.url.endsWith(digest))
        return void res
          .writeHead(200, { "Docker-Content-Digest": digest, "Content-Type": MediaType.OCI_MANIFEST })
          .end();
      res.writeHead(404).end();
    });
    expect(await client(s.host).putManifest("a/b", "v1", manifest, MediaType.OCI_MANIFEST)).toBe(digest);
    const s2 = await serve((req, res) => void res.writeHead(req.method === "PUT" ? 201 : 404).end());
    await expect(client(s2.host).putManifest("a/b", "v1", manifest, MediaType.OCI_MANIFEST)).rejects.toMatchObject({
      code: "E_REGISTRY",
    });
  });

  it("refuses a PUT answer whose Docker-Content-Digest is not the digest of the bytes sent", async () => {
    const other = sha256(Buffer.from("another manifest"));
    const s = await serve((_req, res) => void res.writeHead(201, { "Docker-Content-Digest": other }).end());
    const err = await client(s.host)
      .putManifest("a/b", "v1", manifest, MediaType.OCI_MANIFEST)
      .catch((e) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(err.message).toBe(
      `push manifest v1 to ${s.host}/a/b: the stored manifest from ${s.host}/a/b has digest ${other}, expected ${digest}`,
    );
  });

  it("refuses a PUT answer without Docker-Content-Digest when the HEAD by digest names another digest", async () => {
    const other = sha256(Buffer.from("another manifest"));
    const s = await serve((req, res) => {
      if (req.method === "PUT") return void res.writeHead(201).end();
      res.writeHead(200, { "Docker-Content-Digest": other, "Content-Type": MediaType.OCI_MANIFEST }).end();
    });
    const err = await client(s.host)
      .putManifest("a/b", "v1", manifest, MediaType.OCI_MANIFEST)
      .catch((e) => e);
    expect(err).toMatchObject({
      code: "E_REGISTRY",
      message: `push manifest v1 to ${s.host}/a/b: the registry accepted the manifest but does not serve ${digest}`,
    });
  });

  it("maps spec error codes to stable error codes", async () => {
    const s = await serve((req, res) => {
      const body = (code: string) =>
        JSON.stringify({ errors: [{ code, message: code.toLowerCase().replace("_", " ") }] });
      if (req.url.includes("unknown"))
        return void res.writeHead(404, { "Content-Type": "application/json" }).end(body("MANIFEST_UNKNOWN"));
      if (req.url.includes("denied"))
        return void res.writeHead(403, { "Content-Type": "application/json" }).end(body("DENIED"));
      res.writeHead(400, { "Content-Type": "application/json" }).end(body("MANIFEST_INVALID"));
    });
    const c = client(s.host);
    const e1 = await c.getManifest("a/b", "unknown").catch((e) => e);
    expect(e1.code).toBe("E_NOT_FOUND");
    expect(e1.message).toContain("MANIFEST_UNKNOWN");
    const e2 = await c.getManifest("a/b", "denied").catch((e) => e);
    expect(e2.code).toBe("E_DENIED");
    expect(e2.message).toContain("anonymous");
    const e3 = await c.putManifest("a/b", "bad", manifest, MediaType.OCI_MANIFEST).catch((e) => e);
    expect(e3.code).toBe("E_REGISTRY");
    expect(e3.message).toContain("HTTP 400");
    expect(e3.message).toContain("MANIFEST_INVALID");
    expect(e3.message).toContain(s.host);
  });
});

describe("blobs", () => {
  it("HEAD gives the size or undefined", async () => {
    const s = await serve(
      (req, res) =>
        void (req.url.endsWith("0".repeat(64))
          ? res.writeHead(404).end()
          : res.writeHead(200, { "Content-Length": "42" }).end()),
    );
    expect(await client(s.host).blobExists("a/b", sha256("x"))).toEqual({ size: 42 });
    expect(await client(s.host).blobExists("a/b", parseDigest("sha256:" + "0".repeat(64), "test"))).toBeUndefined();
  });

  it("streams a blob and verifies size and digest", async () => {
    const content = Buffer.from("hello blob");
    const s = await serve((_req, res) => void res.writeHead(200).end(content));
    expect(
      (await client(s.host).getBlob("a/b", { digest: sha256(content), size: content.length })).equals(content),
    ).toBe(true);
    await expect(
      client(s.host).getBlob("a/b", { digest: sha256("something else"), size: content.length }),
    ).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    const short = client(s.host).openBlob("a/b", sha256(content), 5);
    await expect(
      (async () => {
        for await (const _ of short) void _;
      })(),
    ).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
  });

  it("a missing blob is E_NOT_FOUND", async () => {
    const s = await serve(
      (_req, res) =>
        void res
          .writeHead(404, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}'),
    );
    await expect(client(s.host).getBlob("a/b", { digest: sha256("x"), size: 1 })).rejects.toMatchObject({
      code: "E_NOT_FOUND",
    });
  });
});

describe("tags", () => {
  it("follows Link pagination", async () => {
    const s = await serve((req, res) => {
      const url = new URL(req.url, "http://x");
      if (!url.searchParams.get("last")) {
        return void res
          .writeHead(200, { Link: '</v2/a/b/tags/list?n=2&last=t2>; rel="next"' })
          .end(JSON.stringify({ name: "a/b", tags: ["t1", "t2"] }));
      }
      res.writeHead(200).end(JSON.stringify({ name: "a/b", tags: ["t3"] }));
    });
    expect(await client(s.host).listTags("a/b")).toEqual(["t1", "t2", "t3"]);
    expect(s.requests.map((r) => r.url)).toEqual(["/v2/a/b/tags/list?n=1000", "/v2/a/b/tags/list?n=2&last=t2"]);
  });

  it("refuses a next page on another host", async () => {
    const s = await serve(
      (_req, res) =>
        void res
          .writeHead(200, { Link: '<http://registry.invalid/v2/a/b/tags/list?last=t1>; rel="next"' })
          .end('{"name":"a/b","tags":["t1"]}'),
    );
    await expect(client(s.host).listTags("a/b")).rejects.toMatchObject({
      code: "E_REGISTRY",
      message: expect.stringContaining(
        "named a next page on another host or scheme (http://registry.invalid/v2/a/b/tags/list?last=t1); refusing to follow it",
      ),
    });
    expect(s.requests).toHaveLength(1);
  });

  it('nextLink finds the rel="next" target among several links and parameters (RFC 8288)', () => {
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"')).toBe("/v2/a/tags/list?n=2&last=b");
    expect(nextLink("</p?2>; rel=next")).toBe("/p?2");
    expect(nextLink('</p?1>; rel="prev", </p?3>; title="x"; rel="next"')).toBe("/p?3");
    expect(nextLink('</p?3>; REL="last next"')).toBe("/p?3");
    expect(nextLink('</p?1>; rel="prev"')).toBeUndefined();
    expect(nextLink('</p?1>; rel="nextpage"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
    expect(nextLink("")).toBeUndefined();
  });

  it("treats null tags as none", async () => {
    const s = await serve((_req, res) => void res.writeHead(200).end('{"name":"a/b","tags":null}'));
    expect(await client(s.host).listTags("a/b")).toEqual([]);
  });
});
