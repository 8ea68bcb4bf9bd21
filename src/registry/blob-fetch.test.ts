/**
 * Blobs read into a synchronous consumer (blob-fetch.ts) from HTTP servers on loopback that answer what a real
 * registry cannot be made to (a chunked body, a cut connection, wrong bytes, a redirect to another host); the CNCF
 * registry's own answers are read this way in test/e2e/registry-client.test.ts.
 */
import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Digest, sha256 } from "../oci/digest";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { explicitKeychain } from "../registry-auth/static";
import { selfSignedCert } from "../../test/fixtures/kube-api";
import { RegistryClient } from "./client";

/** Larger than one read of the fetch's buffer (1 MiB), and not a multiple of it. */
const big = randomBytes(3 * 1024 * 1024 + 12_345);
const small = Buffer.from("a blob that arrives with the headers\n");
const servers: Server[] = [];
const sockets = new Set<Socket>();

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A server on loopback (https with `tls`); `handle` answers every request. */
async function serve(handle: Handler, tls?: { key: string; cert: string }): Promise<string> {
  const s = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  s.on("connection", (c: Socket) => {
    sockets.add(c);
    c.once("close", () => sockets.delete(c));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** The blob a request names (`/v2/<repo>/blobs/<digest>`) among `blobs`. */
function blobOf(req: IncomingMessage, ...blobs: Buffer[]): Buffer | undefined {
  const digest = decodeURIComponent((req.url ?? "").split("/blobs/")[1] ?? "");
  return blobs.find((b) => sha256(b) === digest);
}

/** Answers a blob as a registry does: 200, Content-Length, the bytes. */
const plain: Handler = (req, res) => {
  const b = blobOf(req, big, small);
  if (!b)
    return void res
      .writeHead(404, { "Content-Type": "application/json" })
      .end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
  res.writeHead(200, { "Content-Length": String(b.length), "Content-Type": "application/octet-stream" }).end(b);
};

function client(registry: string, o: ConstructorParameters<typeof RegistryClient>[1] = {}): RegistryClient {
  return new RegistryClient(registry, { keychain: anonymousKeychain, retry: { retries: 0 }, ...o });
}

/** Fetches `digest` (of `size` bytes) into a list of copies; returns the bytes and whether the body bypassed node:http. */
async function fetchAll(
  c: RegistryClient,
  digest: Digest,
  size: number,
  wait?: number,
): Promise<{ bytes: Buffer; direct: boolean }> {
  const chunks: Buffer[] = [];
  const f = c.fetchBlob("app", digest, size);
  if (wait) await new Promise((r) => setTimeout(r, wait));
  await f.into((chunk) => chunks.push(Buffer.from(chunk)));
  return { bytes: Buffer.concat(chunks), direct: f.readDirectly };
}

let tls: { key: string; cert: string };

beforeAll(() => {
  tls = selfSignedCert();
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

describe("a blob read into a synchronous consumer", () => {
  it("reads a 200's body past node:http, in order: the bytes sent", async () => {
    const got = await fetchAll(client(await serve(plain)), sha256(big), big.length);
    expect(got.direct).toBe(true);
    expect(got.bytes.equals(big)).toBe(true);
  });

  it("a body that came whole with the headers", async () => {
    const got = await fetchAll(client(await serve(plain)), sha256(small), small.length);
    expect(got.direct).toBe(true);
    expect(got.bytes.equals(small)).toBe(true);
  });

  it("started before its consumer: what came meanwhile is kept, in order", async () => {
    const got = await fetchAll(client(await serve(plain)), sha256(big), big.length, 200);
    expect(got.direct).toBe(true);
    expect(got.bytes.equals(big)).toBe(true);
  });

  it("started before its consumer: the connection is paused, not read into memory, until into()", async () => {
    const large = randomBytes(48 * 1024 * 1024);
    const MiB = 1024 * 1024;
    let handedOn = 0; // what the server got into the kernel: written, and drained
    const registry = await serve(async (_req, res) => {
      res.writeHead(200, { "Content-Length": String(large.length) });
      for (let at = 0; at < large.length; at += MiB) {
        if (!res.write(large.subarray(at, at + MiB))) await new Promise((r) => res.once("drain", r));
        handedOn = at + MiB;
      }
      res.end();
    });
    const chunks: Buffer[] = [];
    const f = client(registry).fetchBlob("app", sha256(large), large.length);
    await new Promise((r) => setTimeout(r, 500));
    // The kernel's buffers and a read or two set aside (1 MiB each), not the blob.
    expect(handedOn).toBeGreaterThan(0);
    expect(handedOn).toBeLessThan(24 * MiB);
    await f.into((chunk) => chunks.push(Buffer.from(chunk)));
    expect(Buffer.concat(chunks).equals(large)).toBe(true);
  });

  it("over TLS", async () => {
    const got = await fetchAll(
      client(await serve(plain, tls), { scheme: "https", insecure: true }),
      sha256(big),
      big.length,
    );
    expect(got.direct).toBe(true);
    expect(got.bytes.equals(big)).toBe(true);
  });

  it("a chunked body is read through node:http: the same bytes", async () => {
    const registry = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      for (let at = 0; at < big.length; at += 100_000) res.write(big.subarray(at, at + 100_000));
      res.end();
    });
    const got = await fetchAll(client(registry), sha256(big), big.length);
    expect(got.direct).toBe(false);
    expect(got.bytes.equals(big)).toBe(true);
  });

  it("a chunked body read through node:http is held to the minimum transfer rate too", async () => {
    const timers: NodeJS.Timeout[] = [];
    const registry = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      let at = 0;
      timers.push(setInterval(() => !res.destroyed && at < small.length && res.write(small.subarray(at, ++at)), 200));
    });
    const c = client(registry, { transfer: { minBytesPerSecond: 1024, windowMs: 500, headersTimeoutMs: 5000 } });
    const err = await fetchAll(c, sha256(small), small.length).catch((e: unknown) => e);
    for (const t of timers) clearInterval(t);
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    expect((err as Error).message).toContain(sha256(small));
  });

  it("follows a redirect to another host without the credentials, reading the final body past node:http", async () => {
    const seen: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      seen.push(req.headers.authorization);
      plain(req, res);
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from("u:p").toString("base64")}`) {
        return void res.writeHead(401, { "WWW-Authenticate": 'Basic realm="r"', "Content-Length": "0" }).end();
      }
      res
        .writeHead(307, {
          Location: `http://${storage.replace("127.0.0.1", "localhost")}${req.url}`,
          "Content-Length": "0",
        })
        .end();
    });
    const c = client(registry, { keychain: explicitKeychain(registry, { username: "u", password: "p" }) });
    const got = await fetchAll(c, sha256(big), big.length);
    expect(got.direct).toBe(true);
    expect(got.bytes.equals(big)).toBe(true);
    expect(seen).toEqual([undefined]);
  });
});

describe("a blob that is not what its descriptor says, or does not come whole", () => {
  it("other bytes of the same size: E_DIGEST_MISMATCH naming both digests", async () => {
    const other = randomBytes(big.length);
    const registry = await serve(
      (_req, res) => void res.writeHead(200, { "Content-Length": String(other.length) }).end(other),
    );
    const err = await fetchAll(client(registry), sha256(big), big.length).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect((err as Error).message).toContain(sha256(big));
    expect((err as Error).message).toContain(sha256(other));
  });

  it("a Content-Length other than the descriptor's is read through node:http and refused, naming both sizes", async () => {
    const longer = Buffer.concat([big, Buffer.from("more")]);
    const registry = await serve(
      (_req, res) => void res.writeHead(200, { "Content-Length": String(longer.length) }).end(longer),
    );
    const err = await fetchAll(client(registry), sha256(big), big.length).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect((err as Error).message).toContain(`declares ${big.length} bytes`);
  });

  it("a connection cut mid-body: E_REGISTRY_UNREACHABLE, naming how much came", async () => {
    const registry = await serve((req, res) => {
      res.writeHead(200, { "Content-Length": String(big.length) });
      res.write(big.subarray(0, 1_000_000), () => setTimeout(() => req.socket.destroy(), 50));
    });
    const err = await fetchAll(client(registry), sha256(big), big.length).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_REGISTRY_UNREACHABLE" });
    expect((err as Error).message).toMatch(new RegExp(`ended after 1000000 of ${big.length} bytes`));
  });

  it("a missing blob: E_NOT_FOUND", async () => {
    const err = await fetchAll(client(await serve(plain)), sha256(randomBytes(10)), 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("a consumer that throws: its error, and the connection closed", async () => {
    const registry = await serve(plain);
    const f = client(registry).fetchBlob("app", sha256(big), big.length);
    const err = await f
      .into(() => {
        throw new Error("disk full");
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe("disk full");
    for (const until = Date.now() + 2000; sockets.size > 0 && Date.now() < until; )
      await new Promise((r) => setTimeout(r, 10));
    expect(sockets.size).toBe(0);
  });

  it("stopped before its consumer came: the connection closed, into() rejects", async () => {
    const f = client(await serve(plain)).fetchBlob("app", sha256(big), big.length);
    await new Promise((r) => setTimeout(r, 100));
    f.abort();
    for (const until = Date.now() + 2000; sockets.size > 0 && Date.now() < until; )
      await new Promise((r) => setTimeout(r, 10));
    expect(sockets.size).toBe(0);
    await expect(f.into(() => {})).rejects.toMatchObject({ code: "E_REGISTRY" });
  });
});
