// The dev registry's resource bounds, against the real server on a loopback port: open upload sessions are
// capped and idle ones swept while serving; a request whose body (or headers) stalls is answered 408 and
// its connection closed, while other clients keep getting answers.
import { randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { pushImage } from "../registry/push";
import { randomImage } from "../../test/fixtures/random-image";
import { pushBlob, request, type TempRegistry, tempRegistry } from "./testing";

type Errors = { errors: { code: string; message: string }[] };
const codes = (body: Buffer): string[] => (JSON.parse(body.toString()) as Errors).errors.map((e) => e.code);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function temp(opts: Parameters<typeof tempRegistry>[0] = {}): Promise<TempRegistry> {
  const reg = await tempRegistry(opts);
  cleanups.push(() => reg.cleanup());
  return reg;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds or `ms` passed; returns its last value. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}

const sessionDirs = (reg: TempRegistry): Promise<string[]> => readdir(join(reg.root, "uploads"));

/** A 429 TOOMANYREQUESTS whose Retry-After is from 1 to `maxSeconds`. */
function expectRetryLater(
  r: { status: number; headers: Record<string, unknown>; body: Buffer },
  maxSeconds: number,
): void {
  expect(r.status).toBe(429);
  expect(codes(r.body)).toEqual(["TOOMANYREQUESTS"]);
  expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  expect(Number(r.headers["retry-after"])).toBeLessThanOrEqual(maxSeconds);
}

/** A raw connection that sends `head` (and `body`), then goes quiet; records what it receives and when it closes. */
function stalledClient(address: string, head: string, body = Buffer.alloc(0)) {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  const socket: Socket = connect(port, host);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  socket.write(head);
  if (body.length > 0) socket.write(body);
  cleanups.push(async () => socket.destroy());
  return { socket, closed, received: () => received };
}

/** Resolves true when `p` settles within `ms`. */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

describe("upload sessions are bounded", () => {
  it("beyond maxUploads open sessions, POST answers 429 TOOMANYREQUESTS; directories stay bounded", async () => {
    const reg = await temp({ maxUploads: 5 });
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await request(reg.address, "POST", "/v2/abandon/blobs/uploads/"));
    expect(answers.filter((r) => r.status === 202)).toHaveLength(5);
    const refused = answers.filter((r) => r.status !== 202);
    expect(refused).toHaveLength(15);
    for (const r of refused) expectRetryLater(r, 3600);
    expect((await sessionDirs(reg)).length).toBe(5);
    // Finishing a session frees its slot.
    const bytes = randomBytes(100);
    const done = await request(reg.address, "PUT", `${answers[0].headers.location as string}?digest=${sha256(bytes)}`, {
      body: bytes,
    });
    expect(done.status).toBe(201);
    expect((await request(reg.address, "POST", "/v2/abandon/blobs/uploads/")).status).toBe(202);
  });

  it("a monolithic upload beyond the cap is refused before its body is stored", async () => {
    const reg = await temp({ maxUploads: 1 });
    expect((await request(reg.address, "POST", "/v2/m/blobs/uploads/")).status).toBe(202);
    const bytes = randomBytes(1000);
    const res = await request(reg.address, "POST", `/v2/m/blobs/uploads/?digest=${sha256(bytes)}`, { body: bytes });
    expect(res.status).toBe(429);
    expect((await request(reg.address, "HEAD", `/v2/m/blobs/${sha256(bytes)}`)).status).toBe(404);
  });

  it("idle sessions are swept while serving (directories removed, 404 after); an active one survives", async () => {
    const reg = await temp({ uploadIdleMs: 1500 });
    const posts = await Promise.all(
      Array.from({ length: 30 }, () => request(reg.address, "POST", "/v2/idle/blobs/uploads/")),
    );
    const locs = posts.map((p) => p.headers.location as string);
    expect((await sessionDirs(reg)).length).toBe(30);
    const live = locs[0];
    const parts: Buffer[] = [];
    // Keep one session busy with a chunk every 150 ms for well past the idle limit.
    for (let i = 0; i < 18; i++) {
      const part = randomBytes(1000);
      parts.push(part);
      expect((await request(reg.address, "PATCH", live, { body: part })).status).toBe(202);
      await sleep(150);
    }
    expect(await eventually(async () => (await sessionDirs(reg)).length === 1)).toBe(true);
    const gone = await request(reg.address, "GET", locs[1]);
    expect(gone.status).toBe(404);
    expect(codes(gone.body)).toEqual(["BLOB_UPLOAD_UNKNOWN"]);
    const all = Buffer.concat(parts);
    const done = await request(reg.address, "PUT", `${live}?digest=${sha256(all)}`);
    expect(done.status).toBe(201);
    expect(await sessionDirs(reg)).toEqual([]);
  });
});

describe("one client cannot take every upload session", () => {
  const post = (reg: TempRegistry, from: string, auth?: { user: string; password: string }) =>
    request(reg.address, "POST", "/v2/greedy/blobs/uploads/", { localAddress: from, auth });

  it("1000 anonymous POSTs from one address take maxUploadsPerClient sessions, with a bounded Retry-After; another address still pushes", async () => {
    const reg = await temp({ maxUploadsPerClient: 5 });
    const answers = [];
    for (let i = 0; i < 1000; i += 50)
      answers.push(...(await Promise.all(Array.from({ length: 50 }, () => post(reg, "127.0.0.1")))));
    expect(answers.filter((r) => r.status === 202)).toHaveLength(5);
    const refused = answers.filter((r) => r.status !== 202);
    expect(refused).toHaveLength(995);
    // Seconds until the oldest of this client's sessions expires: within the 5 min idle limit, never an hour.
    for (const r of refused) expectRetryLater(r, 300);
    expect(refused[0].body.toString()).toContain(
      "too many open upload sessions of address 127.0.0.1 (5, the limit per client is 5)",
    );
    expect((await sessionDirs(reg)).length).toBe(5);
    // Another client is not locked out: a whole blob upload from 127.0.0.2.
    const bytes = randomBytes(100);
    const started = await post(reg, "127.0.0.2");
    expect(started.status).toBe(202);
    const done = await request(reg.address, "PUT", `${started.headers.location as string}?digest=${sha256(bytes)}`, {
      body: bytes,
      localAddress: "127.0.0.2",
    });
    expect(done.status).toBe(201);
  });

  it("with auth on, the cap is the user's, from whatever address", async () => {
    const auth = { user: "alice", password: "s3cret" };
    const reg = await temp({ auth, maxUploadsPerClient: 3 });
    const statuses = [];
    for (const from of ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"])
      statuses.push((await post(reg, from, auth)).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    expect((await post(reg, "127.0.0.5", auth)).body.toString()).toContain("upload sessions of user alice");
  });

  it("the global cap still holds across clients, and a session's Retry-After never exceeds the idle limit", async () => {
    const reg = await temp({ maxUploads: 3, maxUploadsPerClient: 2, uploadIdleMs: 20_000 });
    const statuses = [];
    for (const from of ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"])
      statuses.push((await post(reg, from)).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    expectRetryLater(await post(reg, "127.0.0.5"), 20);
  });
});

describe("our client against a full registry", () => {
  const image = () => randomImage({ layers: 1, layerSize: 1024 });
  const opts = { keychain: anonymousKeychain };

  it("a Retry-After beyond the client's bound fails the push at once: E_REGISTRY_BUSY naming the registry and the wait", async () => {
    const reg = await temp({ maxUploadsPerClient: 1 }); // idle limit 5 min: Retry-After ~300 s, beyond the 60 s we wait
    expect((await request(reg.address, "POST", "/v2/app/blobs/uploads/")).status).toBe(202);
    const err = await pushImage(image(), { registry: reg.address, repository: "app", tags: ["v1"] }, opts).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "E_REGISTRY_BUSY" });
    expect((err as Error).message).toMatch(
      new RegExp(`registry ${reg.address} answered HTTP 429 and asks to retry after \\d+ s`),
    );
  });

  it("a Retry-After within the bound is waited for: the abandoned session is swept and the push goes through", async () => {
    const lines: string[] = [];
    const reg = await temp({ maxUploadsPerClient: 1, uploadIdleMs: 1500, log: (l) => lines.push(l) });
    expect((await request(reg.address, "POST", "/v2/app/blobs/uploads/")).status).toBe(202);
    const img = image();
    const pushed = await pushImage(
      img,
      { registry: reg.address, repository: "app", tags: ["v1"] },
      { ...opts, retry: { retries: 8 } },
    );
    expect(pushed.digest).toBe(img.digest);
    expect(lines.filter((l) => l.startsWith("POST /v2/app/blobs/uploads/ 429")).length).toBeGreaterThan(0);
  });
});

describe("stalled requests", () => {
  it("a stalled upload body is answered 408 and its socket closed; others keep getting answers; the chunk is dropped", async () => {
    const reg = await temp({ bodyTimeoutMs: 300 });
    const loc = (await request(reg.address, "POST", "/v2/slow/blobs/uploads/")).headers.location as string;
    const first = randomBytes(100);
    await request(reg.address, "PATCH", loc, { body: first });
    const stalled = Array.from({ length: 10 }, () =>
      stalledClient(reg.address, `PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`, randomBytes(10)),
    );
    // While they stall, other clients are served.
    for (let i = 0; i < 5; i++) expect((await request(reg.address, "GET", "/v2/")).status).toBe(200);
    for (const s of stalled) {
      expect(await within(s.closed, 5000)).toBe(true);
    }
    expect(stalled.some((s) => s.received().startsWith("HTTP/1.1 408"))).toBe(true);
    // The session is intact: only the complete first chunk counts.
    expect((await request(reg.address, "GET", loc)).headers.range).toBe("0-99");
    expect((await request(reg.address, "PUT", `${loc}?digest=${sha256(first)}`)).status).toBe(201);
  });

  it("a stalled manifest body and stalled request headers are cut off too", async () => {
    const reg = await temp({ bodyTimeoutMs: 300 });
    const body = stalledClient(
      reg.address,
      "PUT /v2/slow/manifests/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 500\r\n\r\n{",
    );
    const head = stalledClient(reg.address, "GET /v2/ HTTP/1.1\r\nHost: x\r\n");
    expect(await within(body.closed, 5000)).toBe(true);
    expect(await within(head.closed, 5000)).toBe(true);
    expect(body.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect((await request(reg.address, "GET", "/v2/")).status).toBe(200);
  });

  it("a client that stops reading a blob download is cut off", async () => {
    const lines: string[] = [];
    const reg = await temp({ bodyTimeoutMs: 300, log: (l) => lines.push(l) });
    const digest = await pushBlob(reg.address, "big", randomBytes(32 * 1024 * 1024));
    const c = stalledClient(reg.address, `GET /v2/big/blobs/${digest} HTTP/1.1\r\nHost: x\r\n\r\n`);
    c.socket.removeAllListeners("data");
    c.socket.pause(); // reads nothing beyond what the kernel buffers
    const aborted = await eventually(async () =>
      lines.some((l) => l.startsWith("GET /v2/big/blobs/") && l.endsWith("(aborted)")),
    );
    expect(aborted).toBe(true);
    c.socket.resume();
    expect(await within(c.closed, 5000)).toBe(true);
  });

  it("close() resolves only after a cut-off upload rolled its partial chunk back (nothing writes into the storage after it)", async () => {
    const reg = await tempRegistry({ bodyTimeoutMs: 60_000 });
    const loc = (await request(reg.address, "POST", "/v2/closing/blobs/uploads/")).headers.location as string;
    const id = loc.split("/").pop()!.split("?")[0];
    const data = join(reg.root, "uploads", id, "data");
    const c = stalledClient(
      reg.address,
      `PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`,
      randomBytes(30_000),
    );
    expect(await eventually(async () => (await stat(data).catch(() => undefined))?.size === 30_000)).toBe(true);
    await reg.close();
    // Before, close() resolved when the socket closed and the truncate came later: the chunk's 30,000 bytes were still there.
    expect((await stat(data)).size).toBe(0);
    await c.closed;
    await reg.cleanup();
  });

  it("an upload body dripped a byte at a time is cut off by the minimum body rate (it never stalls)", async () => {
    const reg = await temp({ bodyTimeoutMs: 1000 }); // default minimum: 1024 bytes/s over each second of waiting
    const loc = (await request(reg.address, "POST", "/v2/drip/blobs/uploads/")).headers.location as string;
    const dripping = Array.from({ length: 5 }, () =>
      stalledClient(reg.address, `PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`),
    );
    const timer = setInterval(() => {
      for (const c of dripping) if (!c.socket.destroyed) c.socket.write("x");
    }, 100); // 10 bytes/s: progress every tick of the stall watchdog (250 ms)
    cleanups.push(async () => clearInterval(timer));
    for (const c of dripping) expect(await within(c.closed, 10_000)).toBe(true);
    const answered = dripping.map((c) => c.received()).filter((r) => r.startsWith("HTTP/1.1 408"));
    expect(answered.length).toBeGreaterThan(0);
    expect(answered[0]).toContain("below the minimum of 1024 bytes/s");
    // Nothing of the dripped chunks was kept (once the cut-off chunk is rolled back, which may finish after the close).
    expect(await eventually(async () => (await request(reg.address, "GET", loc)).headers.range === "0-0")).toBe(true);
  });

  it("a slow but steady upload is not cut off", async () => {
    const reg = await temp({ bodyTimeoutMs: 300 });
    const loc = (await request(reg.address, "POST", "/v2/steady/blobs/uploads/")).headers.location as string;
    const parts = Array.from({ length: 8 }, () => randomBytes(500));
    const c = stalledClient(
      reg.address,
      `PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n`,
    );
    for (const p of parts) {
      await sleep(100); // total 800 ms, each gap under the timeout
      c.socket.write(p);
    }
    expect(await within(c.closed, 5000)).toBe(true);
    expect(c.received()).toMatch(/^HTTP\/1\.1 202 /);
    expect((await request(reg.address, "PUT", `${loc}?digest=${sha256(Buffer.concat(parts))}`)).status).toBe(201);
  });
});

describe("keep-alive connections", () => {
  it("many requests on one connection leave no listeners behind (no MaxListenersExceededWarning)", async () => {
    const reg = await temp({ bodyTimeoutMs: 60_000 }); // the watchdog's own tick (15 s) never runs during the test
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const [host, port] = reg.address.replace(/^https?:\/\//, "").split(":");
      const socket = connect(Number(port), host);
      let received = "";
      socket.on("data", (d: Buffer) => (received += d.toString()));
      const answers = (): number => received.split("HTTP/1.1 200").length - 1;
      for (let i = 1; i <= 30; i++) {
        socket.write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
        expect(await eventually(async () => answers() >= i)).toBe(true);
      }
      socket.end();
      await sleep(50);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message)).toEqual([]);
  });
});
