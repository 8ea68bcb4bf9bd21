/**
 * The minimum transfer rate against a real TCP server on loopback serving a blob: dripped (a slowloris registry,
 * which real registries cannot be made to be), or fast to a consumer that stalls. Rates and windows are small so the
 * tests are quick; no assertion is on time: only on the outcome and the error's code and message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { type Digest, sha256 } from "../oci/digest";
import { RegistryClient } from "./client";
import { listReferrers } from "./referrers";
import { type TransferRate, watchRate } from "./transfer-rate";

const small = Buffer.from("a blob dripped one byte at a time\n");
const big = randomBytes(4 * 1024 * 1024);
const blobs = new Map<string, { bytes: Buffer; drip: boolean }>([
  [sha256(small), { bytes: small, drip: true }],
  [sha256(big), { bytes: big, drip: false }],
]);
let server: Server;
let registry: string;
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();

/** Sends `bytes` one byte every `everyMs` (Content-Length up front, so the client waits for all of them). */
function drip(res: ServerResponse, bytes: Buffer, everyMs: number): void {
  let i = 0;
  const t = setInterval(() => {
    if (res.destroyed || i >= bytes.length) {
      clearInterval(t);
      timers.delete(t);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(bytes.subarray(i, ++i));
  }, everyMs);
  timers.add(t);
}

/** Writes `text` straight to the socket one byte every `everyMs`: a status line and headers that never end. */
function dripRaw(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const t = setInterval(() => {
    if (socket.destroyed || i >= text.length) {
      clearInterval(t);
      timers.delete(t);
      return;
    }
    socket.write(text.slice(i, ++i));
  }, everyMs);
  timers.add(t);
}

/** A blob whose answer's status line and headers the server drips a byte at a time. */
const HEADERS_DRIPPED = sha256("headers dripped");

/** What the server drips besides blobs: every kind of response the client reads whole (`dripped`). */
const JSON_BODY = Buffer.from(
  `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"tags":[],"token":"x"}`,
);

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? "";
    const everyMs = Number(/drip=(\d+)/.exec(req.headers["user-agent"] ?? "")?.[1] ?? 400);
    if (url.startsWith("/v2/app/manifests/headers"))
      return dripRaw(req.socket, `HTTP/1.1 200 OK\r\nX-Slow: ${"a".repeat(1000)}\r\n\r\n`, everyMs);
    if (url.startsWith("/v2/auth/") && !req.headers.authorization) {
      res
        .writeHead(401, {
          "WWW-Authenticate": `Bearer realm="http://${registry}/token",service="t"`,
          "Content-Length": "0",
        })
        .end();
      return;
    }
    if (url.startsWith("/v2/missing/")) {
      res.writeHead(404, { "Content-Type": "application/json", "Content-Length": String(JSON_BODY.length) });
      return drip(res, JSON_BODY, everyMs);
    }
    if (/^\/(token|v2\/app\/(manifests|tags|referrers)\/)/.test(url)) {
      res.writeHead(200, {
        "Content-Type": "application/vnd.oci.image.index.v1+json",
        "Content-Length": String(JSON_BODY.length),
      });
      return drip(res, JSON_BODY, everyMs);
    }
    const digest = decodeURIComponent((req.url ?? "").split("/blobs/")[1] ?? "");
    if (digest === HEADERS_DRIPPED)
      return dripRaw(req.socket, `HTTP/1.1 200 OK\r\nX-Slow: ${"a".repeat(1000)}\r\n\r\n`, everyMs);
    const blob = blobs.get(digest);
    if (!blob) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(blob.bytes.length) });
    if (blob.drip) drip(res, blob.bytes, Number(/drip=(\d+)/.exec(req.headers["user-agent"] ?? "")?.[1] ?? 400));
    else res.end(blob.bytes);
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

/** A client whose User-Agent tells the server how fast to drip (ms per byte). */
function client(
  transfer: Omit<TransferRate, "headersTimeoutMs"> & Partial<TransferRate>,
  dripMs = 400,
): RegistryClient {
  return new RegistryClient(registry, {
    keychain: anonymousKeychain,
    retry: { retries: 0 },
    transfer: { headersTimeoutMs: 60_000, ...transfer },
    userAgent: `test drip=${dripMs}`,
  });
}

/** Reads a blob whole; the consumer waits `stallMs` after every `every` bytes. */
async function read(
  c: RegistryClient,
  digest: Digest,
  size: number,
  stall?: { every: number; ms: number },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  let next = stall?.every ?? Infinity;
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      n += chunk.length;
      if (stall && n >= next) {
        next = n + stall.every;
        setTimeout(cb, stall.ms);
      } else cb();
    },
  });
  await pipeline(c.openBlob("app", digest, size), sink);
  return Buffer.concat(chunks);
}

/** Reads a blob as a layout's file is written (fetchBlob: the body bypasses node:http); the consumer blocks `stallMs` after every `every` bytes. */
async function readInto(
  c: RegistryClient,
  digest: Digest,
  size: number,
  stall?: { every: number; ms: number },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  let next = stall?.every ?? Infinity;
  const fetch = c.fetchBlob("app", digest, size);
  await fetch.into((chunk) => {
    chunks.push(Buffer.from(chunk));
    n += chunk.length;
    if (stall && n >= next) {
      next = n + stall.every;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stall.ms); // a synchronous consumer: a slow disk
    }
  });
  expect(fetch.readDirectly).toBe(true);
  return Buffer.concat(chunks);
}

describe("minimum transfer rate of a blob read into a file (blob-fetch.ts)", () => {
  it("cuts a registry that drips a byte at a time, naming the blob, the registry and the rate", async () => {
    const err = await readInto(client({ minBytesPerSecond: 1024, windowMs: 1500 }), sha256(small), small.length).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    const message = (err as Error).message;
    expect(message).toContain(sha256(small));
    expect(message).toContain(`registry ${registry}`);
    expect(message).toMatch(/ at [0-9.]+ B\/s \(\d+ bytes in [0-9.]+ s of reading\)/);
  });

  it("cuts a registry that sends the response headers a byte at a time (the connections are blob-fetch.ts's own)", async () => {
    const c = client({ minBytesPerSecond: 1024, windowMs: 500, headersTimeoutMs: 500 }, 50);
    const err = await readInto(c, HEADERS_DRIPPED, 10).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    expect((err as Error).message).toContain("did not finish sending the response headers within 0.5 s");
  });

  it("does not blame a slow consumer on a fast registry", async () => {
    // The consumer blocks 0.1 s after every MiB (10 MiB/s, under the 40 asked) while the registry sends as fast as it is
    // read: the consumer's time is not counted, so no window ever fills.
    const c = client({ minBytesPerSecond: 40 * 1024 * 1024, windowMs: 300 });
    const got = await readInto(c, sha256(big), big.length, { every: 1024 * 1024, ms: 100 });
    expect(sha256(got)).toBe(sha256(big));
  });
});

describe("minimum transfer rate of a blob download", () => {
  it("cuts a registry that drips a byte at a time, naming the blob, the registry and the rate", async () => {
    const err = await read(client({ minBytesPerSecond: 1024, windowMs: 1500 }), sha256(small), small.length).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    const message = (err as Error).message;
    expect(message).toContain(sha256(small));
    expect(message).toContain(`registry ${registry}`);
    expect(message).toMatch(/ at [0-9.]+ B\/s \(\d+ bytes in [0-9.]+ s of reading\)/);
    expect(message).toContain("--min-transfer-rate or $PIPELINE_MIN_TRANSFER_RATE");
  });

  it("does not blame a slow consumer on a fast registry", async () => {
    // The consumer stalls 0.7 s (more than two windows) after every MiB; the registry sends as fast as it is read.
    const c = client({ minBytesPerSecond: 256 * 1024, windowMs: 300 });
    const got = await read(c, sha256(big), big.length, { every: 1024 * 1024, ms: 700 });
    expect(sha256(got)).toBe(sha256(big));
  });

  it("0 turns the check off", async () => {
    const got = await read(client({ minBytesPerSecond: 0, windowMs: 100 }, 20), sha256(small), small.length);
    expect(got.equals(small)).toBe(true);
  });
});

describe("one rule for every response: bodies read whole and headers (issue #41)", () => {
  const rate = { minBytesPerSecond: 1024, windowMs: 500 };
  const subject = sha256("subject");
  const cases: [string, string, (c: RegistryClient) => Promise<unknown>][] = [
    ["a manifest", "/v2/app/manifests/v1", (c) => c.getManifest("app", "v1")],
    ["a tag list", "/v2/app/tags/list", (c) => c.listTags("app")],
    ["a referrers listing", `/v2/app/referrers/${subject}`, (c) => listReferrers(c, "app", subject)],
    ["a token response", "/token", (c) => c.getManifest("auth/app", "v1")],
    ["an error body", "/v2/missing/manifests/v1", (c) => c.getManifest("missing", "v1")],
  ];
  for (const [what, path, read] of cases) {
    it(`cuts a registry that drips ${what} a byte at a time, naming the URL's path and the rate`, async () => {
      const err = await read(client(rate, 100)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
      const message = (err as Error).message;
      expect(message).toContain(path);
      expect(message).toMatch(/ at [0-9.]+ B\/s \(\d+ bytes in [0-9.]+ s of reading\)/);
      expect(message).toContain("--min-transfer-rate or $PIPELINE_MIN_TRANSFER_RATE");
    });
  }

  it("cuts a registry that sends its response headers a byte at a time ($PIPELINE_RESPONSE_HEADERS_TIMEOUT)", async () => {
    const err = await client({ ...rate, headersTimeoutMs: 500 }, 50)
      .getManifest("app", "headers")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_REGISTRY_TOO_SLOW" });
    expect((err as Error).message).toContain(
      "/v2/app/manifests/headers: the registry did not finish sending the response headers within 0.5 s",
    );
    expect((err as Error).message).toContain("$PIPELINE_RESPONSE_HEADERS_TIMEOUT");
  });

  it("a registry answering at once is not affected", async () => {
    const got = await client(rate, 0).getManifest("app", "v1");
    expect(got.bytes.equals(JSON_BODY)).toBe(true);
  });
});

describe("the rate's timer (watchRate)", () => {
  it("does not count a stall of this process as the registry's time: the bytes sent meanwhile are read after the tick", async () => {
    // A socket pair on loopback: the far end sends 104 bytes, then this process is held up longer than a window inside
    // an I/O callback (a long synchronous call, a starved machine). The interval's tick comes before the I/O phase
    // that reads what arrived meanwhile.
    const far = new Promise<Socket>((done) => {
      const srv = createServer().on("connection", (c) => {
        srv.close();
        done(c);
      });
      srv.listen(0, "127.0.0.1", () => near.connect((srv.address() as AddressInfo).port, "127.0.0.1"));
    });
    const near = new Socket();
    let bytes = 0;
    near.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    const verdicts: unknown[] = [];
    const sent = await far;
    const stop = watchRate(
      { minBytesPerSecond: 1024, windowMs: 500 },
      () => ({ bytes, waiting: true, consumerMs: 0 }),
      (m) => verdicts.push(m),
    );
    await new Promise<void>((done) => {
      sent.write(Buffer.alloc(104), () => {
        // In the write's callback (the I/O phase): held up 700 ms.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700);
        done();
      });
    });
    for (let i = 0; i < 50 && bytes < 104; i++) await new Promise((r) => setTimeout(r, 10));
    stop();
    near.destroy();
    sent.destroy();
    expect(bytes).toBe(104);
    expect(verdicts).toEqual([]);
  });

  it("still cuts a registry that sends nothing for a window while the process runs freely", async () => {
    const verdicts: unknown[] = [];
    const stop = watchRate(
      { minBytesPerSecond: 1024, windowMs: 200 },
      () => ({ bytes: 0, waiting: true, consumerMs: 0 }),
      (m) => verdicts.push(m),
    );
    for (let i = 0; i < 100 && verdicts.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    stop();
    expect(verdicts).toHaveLength(1);
  });
});
