import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { PipelineError } from "../errors";
import { useFakeServers } from "../../test/fixtures/fake-servers";
import type { ChunkSource } from "./body-chunks";
import {
  backoffDelay,
  HttpTransport,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  sameAuthority,
} from "./http";

const ctx = { registry: "test-registry", operation: "test op" };
const serve = useFakeServers();
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe("parseRetryAfter", () => {
  it("reads delta seconds and HTTP dates", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(" 0 ")).toBe(0);
    const now = Date.parse("Sun, 06 Nov 1994 08:49:37 GMT");
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", now)).toBe(0);
  });
  it("ignores absent or invalid values", () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("-1")).toBeUndefined();
  });
});

describe("backoffDelay", () => {
  it("doubles with jitter in [ceiling/2, ceiling] and is capped", () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(400);
    expect(backoffDelay(20, 100, 1000, () => 1)).toBe(1000);
  });
});

describe("retry classification", () => {
  it("retries connection errors and 5xx/429, not 4xx or local errors", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"])
      expect(isRetryableError(Object.assign(new Error("x"), { code }))).toBe(true);
    expect(isRetryableError(new Error("socket hang up"))).toBe(true);
    expect(isRetryableError(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe(false);
    expect(isRetryableError(new PipelineError("E_REGISTRY", "socket hang up"))).toBe(false);
    expect([500, 502, 503, 504, 429, 408].every(isRetryableStatus)).toBe(true);
    expect([200, 400, 401, 403, 404, 416, 501].some(isRetryableStatus)).toBe(false);
  });
});

describe("sameAuthority", () => {
  it("compares host:port and refuses https→http downgrades", () => {
    expect(sameAuthority(new URL("http://a:5000/x"), new URL("http://a:5000/y"))).toBe(true);
    expect(sameAuthority(new URL("https://a/x"), new URL("https://A/y"))).toBe(true);
    expect(sameAuthority(new URL("http://a:5000/x"), new URL("http://a:5001/y"))).toBe(false);
    expect(sameAuthority(new URL("https://a/x"), new URL("https://b/y"))).toBe(false);
    expect(sameAuthority(new URL("https://a/x"), new URL("http://a/y"))).toBe(false);
  });
});

describe("HttpTransport", () => {
  it("retries 5xx and reopens a streamed body for every attempt", async () => {
    let n = 0;
    const s = await serve((req, res) => {
      if (++n < 3) return void res.writeHead(503).end();
      res.writeHead(201).end(`got ${req.body.toString()}`);
    });
    let opens = 0;
    const t = new HttpTransport({ retries: 3, baseDelayMs: 1 });
    const res = await t.request(
      {
        method: "PUT",
        url: new URL(`${s.url}/x`),
        body: () => (opens++, Readable.from([Buffer.from("hello "), Buffer.from("world")])),
        contentLength: 11,
      },
      ctx,
    );
    expect(res.status).toBe(201);
    expect(await res.text()).toBe("got hello world");
    expect(opens).toBe(3);
    expect(s.requests.map((r) => r.body.toString())).toEqual(["hello world", "hello world", "hello world"]);
    expect(s.requests[0].headers["content-length"]).toBe("11");
  });

  it("returns the last 5xx once retries are spent", async () => {
    const s = await serve((_req, res) => void res.writeHead(502).end("bad gateway"));
    const res = await new HttpTransport({ retries: 2, baseDelayMs: 1 }).request(
      { method: "GET", url: new URL(s.url) },
      ctx,
    );
    expect(res.status).toBe(502);
    expect(s.requests).toHaveLength(3);
  });

  it("does not retry when asked not to, nor on 4xx", async () => {
    const s = await serve((req, res) => void res.writeHead(req.url === "/404" ? 404 : 500).end());
    const t = new HttpTransport({ retries: 3, baseDelayMs: 1 });
    expect((await t.request({ method: "GET", url: new URL(`${s.url}/404`) }, ctx)).status).toBe(404);
    expect((await t.request({ method: "GET", url: new URL(`${s.url}/500`), retry: false }, ctx)).status).toBe(500);
    expect(s.requests).toHaveLength(2);
  });

  it("honours a Retry-After within maxRetryAfterMs", async () => {
    let n = 0;
    const s = await serve(
      (_req, res) => void (++n === 1 ? res.writeHead(429, { "Retry-After": "1" }).end() : res.writeHead(200).end()),
    );
    const res = await new HttpTransport({ retries: 1, baseDelayMs: 1, maxRetryAfterMs: 5000 }).request(
      { method: "GET", url: new URL(s.url) },
      ctx,
    );
    expect(res.status).toBe(200);
    expect(s.requests).toHaveLength(2);
  });

  it("fails at once with E_REGISTRY_BUSY, naming the registry and the wait, when Retry-After is beyond maxRetryAfterMs", async () => {
    for (const [status, value] of [
      [429, "3600"],
      [503, new Date(Date.now() + 7_200_000).toUTCString()],
    ] as const) {
      const s = await serve((_req, res) => void res.writeHead(status, { "Retry-After": value }).end());
      const err = await new HttpTransport({ retries: 4, baseDelayMs: 1 })
        .request({ method: "GET", url: new URL(s.url) }, ctx)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PipelineError);
      expect(err).toMatchObject({ code: "E_REGISTRY_BUSY" });
      const message = (err as Error).message;
      expect(message).toContain(`test op: registry test-registry answered HTTP ${status} and asks to retry after`);
      expect(message).toContain(`(Retry-After: ${JSON.stringify(value)}), longer than the 60 s we wait`);
      expect(message).toMatch(status === 429 ? / after 3600 s / : / after 7[12]\d\d s /);
      expect(s.requests).toHaveLength(1);
    }
  });

  it("retries a dropped connection (socket hang up)", async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      if (++n === 1) return void res.socket?.destroy();
      res.writeHead(200).end("ok");
    });
    const logs: string[] = [];
    const res = await new HttpTransport({ retries: 2, baseDelayMs: 1 }, (l) => logs.push(l)).request(
      { method: "GET", url: new URL(s.url) },
      ctx,
    );
    expect(await res.text()).toBe("ok");
    expect(logs.some((l) => /ECONNRESET|socket hang up/.test(l))).toBe(true);
  });

  it("retries an error answer whose body the network cut off, so its error codes reach the caller", async () => {
    // What a proxy dropping the connection mid-answer does (test/fixtures/fault-proxy.ts, dropResponse): the status
    // line and headers of a 400 MANIFEST_BLOB_UNKNOWN arrive, its body does not; without the codes, the push's retry
    // of that answer cannot tell it from a bad manifest.
    const body = JSON.stringify({ errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown" }] });
    let n = 0;
    const s = await serve((_req, res) => {
      res.writeHead(400, { "Content-Type": "application/json", "Content-Length": String(body.length) });
      if (++n === 1) {
        res.write(body.slice(0, 10));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end(body);
    });
    const logs: string[] = [];
    const t = new HttpTransport({ retries: 2, baseDelayMs: 1 }, (l) => logs.push(l));
    const res = await t.request(
      { method: "PUT", url: new URL(`${s.url}/v2/a/manifests/x`), body: Buffer.from("{}") },
      ctx,
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(await res.text())).toEqual(JSON.parse(body));
    expect(await res.text()).toBe(body); // read once, kept
    expect(s.requests).toHaveLength(2);
    expect(logs.join("\n")).toMatch(/HTTP 400 whose body was cut off .*retrying/);
    // Once retries are spent, the cut answer is returned; reading its body fails (responseError then names the status).
    n = 0;
    const once = await new HttpTransport({ retries: 0, baseDelayMs: 1 }).request(
      { method: "GET", url: new URL(`${s.url}/v2/a/manifests/y`) },
      ctx,
    );
    expect(once.status).toBe(400);
    await expect(once.text()).rejects.toThrow();
  });

  it("turns a refused connection into E_REGISTRY_UNREACHABLE naming registry, operation and errno", async () => {
    const port = await closedPort();
    const t = new HttpTransport({ retries: 2, baseDelayMs: 1 });
    const err = await t
      .request({ method: "GET", url: new URL(`http://127.0.0.1:${port}/v2/?token=abc`) }, ctx)
      .catch((e) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err.code).toBe("E_REGISTRY_UNREACHABLE");
    expect(err.message).toContain("test-registry");
    expect(err.message).toContain("test op");
    expect(err.message).toContain("ECONNREFUSED");
    expect(err.message).toContain("after 3 attempts");
    expect(err.message).not.toContain("abc");
  });

  it("times out a server that never answers", async () => {
    const s = await serve(() => undefined);
    const t = new HttpTransport({ retries: 1, baseDelayMs: 1, timeoutMs: 100 });
    const err = await t.request({ method: "GET", url: new URL(s.url) }, ctx).catch((e) => e);
    expect(err.code).toBe("E_REGISTRY_UNREACHABLE");
    expect(err.message).toContain("ETIMEDOUT");
    expect(s.requests).toHaveLength(2);
  });

  it("does not retry when the body itself cannot be read", async () => {
    const s = await serve((_req, res) => void res.writeHead(201).end());
    const t = new HttpTransport({ retries: 3, baseDelayMs: 1 });
    const body = () =>
      new Readable({
        read() {
          this.destroy(Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" }));
        },
      });
    const err = await t.request({ method: "PUT", url: new URL(s.url), body, contentLength: 5 }, ctx).catch((e) => e);
    expect(err.code).toBe("E_BLOB_READ");
  });

  it("keeps Authorization on same-host redirects and drops it for other hosts", async () => {
    const other = await serve((_req, res) => void res.writeHead(200).end("elsewhere"), "localhost");
    const s = await serve((req, res) => {
      if (req.url === "/same") return void res.writeHead(307, { Location: "/final" }).end();
      if (req.url === "/away") return void res.writeHead(302, { Location: `${other.url}/blob` }).end();
      res.writeHead(200).end("here");
    });
    const t = new HttpTransport({ retries: 0 });
    const headers = { Authorization: "Bearer tkn" };
    expect(await (await t.request({ method: "GET", url: new URL(`${s.url}/same`), headers }, ctx)).text()).toBe("here");
    expect(s.requests.map((r) => r.headers.authorization)).toEqual(["Bearer tkn", "Bearer tkn"]);
    const res = await t.request({ method: "GET", url: new URL(`${s.url}/away`), headers }, ctx);
    expect(await res.text()).toBe("elsewhere");
    expect(res.url.host).toBe(other.host);
    expect(other.requests[0].headers.authorization).toBeUndefined();
  });

  it("a chunk source's next chunk is asked for only once the last was written, so the source may refill one buffer", async () => {
    const s = await serve((req, res) => void res.writeHead(201).end(req.body));
    const pieces = ["alpha-", "beta--", "gamma-", "delta!"].map((p) => Buffer.from(p.repeat(50_000)));
    const opened: { closed: boolean }[] = [];
    const body = (): ChunkSource => {
      const shared = Buffer.alloc(pieces[0].length); // one buffer, overwritten by every next()
      const state = { closed: false, i: 0 };
      opened.push(state);
      return {
        next: async () => (state.i < pieces.length ? shared.subarray(0, pieces[state.i++].copy(shared)) : undefined),
        close: () => void (state.closed = true),
      };
    };
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const res = await new HttpTransport({ retries: 0 }).request(
      { method: "PUT", url: new URL(s.url), body, contentLength: total },
      ctx,
    );
    expect(res.status).toBe(201);
    expect((await res.buffer(total)).equals(Buffer.concat(pieces))).toBe(true);
    expect(opened).toEqual([{ closed: true, i: 4 }]);
  });

  it("a chunk source that fails ends the request with its PipelineError (not retried) and is closed", async () => {
    const s = await serve((_req, res) => void res.writeHead(201).end());
    let opens = 0;
    let closed = 0;
    const body = (): ChunkSource => {
      opens++;
      let sent = false;
      return {
        next: async () => {
          if (sent) throw new PipelineError("E_DIGEST_MISMATCH", "wrong content");
          sent = true;
          return Buffer.from("12345");
        },
        close: () => void closed++,
      };
    };
    const t = new HttpTransport({ retries: 3, baseDelayMs: 1 });
    const err = await t.request({ method: "PUT", url: new URL(s.url), body, contentLength: 10 }, ctx).catch((e) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH", message: "wrong content" });
    expect([opens, closed]).toEqual([1, 1]);
  });

  it("a chunk source whose request is answered before the body is sent stops and is closed", async () => {
    // Answers at once, without reading the body (fake-servers' handlers run after it), as a proxy refusing a size does.
    const early = createHttpServer((_req, res) => void res.writeHead(413, { Connection: "close" }).end());
    await new Promise<void>((r) => early.listen(0, "127.0.0.1", r));
    const url = new URL(`http://127.0.0.1:${(early.address() as AddressInfo).port}/`);
    let closed = 0;
    let asked = 0;
    const body = (): ChunkSource => ({
      next: async () => (asked++ < 2000 ? Buffer.alloc(64 * 1024, 1) : undefined),
      close: () => void closed++,
    });
    const t = new HttpTransport({ retries: 0 });
    try {
      const res = await t.request({ method: "PUT", url, body, contentLength: 2000 * 64 * 1024 }, ctx);
      expect(res.status).toBe(413);
      await res.discard();
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(1);
      expect(asked).toBeLessThan(2000);
    } finally {
      early.closeAllConnections();
      await new Promise((r) => early.close(r));
    }
  });

  it("re-sends the body on 307 and switches to GET on 303", async () => {
    const s = await serve((req, res) => {
      if (req.url === "/307") return void res.writeHead(307, { Location: "/target" }).end();
      if (req.url === "/303") return void res.writeHead(303, { Location: "/target" }).end();
      res.writeHead(200).end(`${req.method} ${req.body.length}`);
    });
    const t = new HttpTransport({ retries: 0 });
    const body = () => Readable.from([Buffer.from("12345")]);
    expect(
      await (await t.request({ method: "PUT", url: new URL(`${s.url}/307`), body, contentLength: 5 }, ctx)).text(),
    ).toBe("PUT 5");
    expect(
      await (await t.request({ method: "PUT", url: new URL(`${s.url}/303`), body, contentLength: 5 }, ctx)).text(),
    ).toBe("GET 0");
  });
});
