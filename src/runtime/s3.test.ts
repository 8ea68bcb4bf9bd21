import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { ObjectStoreError, STORE_CONCURRENCY } from "./object-store";
import { S3Store, type S3StoreOptions, s3Credentials } from "./s3";
import { EMPTY_SHA256, sha256Hex, signV4, uriPath } from "./s3-sign";

// AWS's documented example credentials (not secrets).
const EXAMPLE = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

describe("signV4 against AWS's published examples", () => {
  test('the SigV4 test suite\'s "get-vanilla"', () => {
    const signed = signV4({
      method: "GET",
      host: "example.amazonaws.com",
      path: "/",
      payloadHash: EMPTY_SHA256,
      region: "us-east-1",
      service: "service",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
      date: new Date("2015-08-30T12:36:00Z"),
    });
    expect(signed.canonicalRequest).toBe(
      `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`,
    );
    expect(signed.headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, " +
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
  });

  const s3 = (over: Partial<Parameters<typeof signV4>[0]>) =>
    signV4({
      method: "GET",
      host: "examplebucket.s3.amazonaws.com",
      path: "/",
      payloadHash: EMPTY_SHA256,
      region: "us-east-1",
      credentials: EXAMPLE,
      date: new Date("2013-05-24T00:00:00Z"),
      ...over,
      headers: { "x-amz-content-sha256": over.payloadHash ?? EMPTY_SHA256, ...over.headers },
    }).headers.authorization.replace(/.*Signature=/, "");

  test("S3's GET Object example (a Range header)", () => {
    expect(s3({ path: "/test.txt", headers: { Range: "bytes=0-9" } })).toBe(
      "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  test("S3's PUT Object example (a key with $, encoded once; the body's sha256)", () => {
    const body = "Welcome to Amazon S3.";
    expect(sha256Hex(body)).toBe("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    expect(uriPath(["test$file.text"])).toBe("/test%24file.text");
    const sig = s3({
      method: "PUT",
      path: uriPath(["test$file.text"]),
      payloadHash: sha256Hex(body),
      headers: { Date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" },
    });
    expect(sig).toBe("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  });

  test("S3's GET Bucket example (query parameters sorted and encoded)", () => {
    expect(s3({ query: { prefix: "J", "max-keys": "2" } })).toBe(
      "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
  });

  test("a session token is sent and signed", () => {
    const signed = signV4({
      method: "GET",
      host: "h",
      path: "/",
      payloadHash: EMPTY_SHA256,
      region: "us-east-1",
      credentials: { ...EXAMPLE, sessionToken: "tok" },
    });
    expect(signed.headers["x-amz-security-token"]).toBe("tok");
    expect(signed.headers.authorization).toContain("SignedHeaders=host;x-amz-date;x-amz-security-token,");
  });

  test("keys: every byte but the unreserved characters encoded, the slashes kept", () => {
    expect(uriPath(["maps", "a b/c+d%e?f#g=h&i~j_k.l-m/ü*'()!"])).toBe(
      "/maps/a%20b/c%2Bd%25e%3Ff%23g%3Dh%26i~j_k.l-m/%C3%BC%2A%27%28%29%21",
    );
  });
});

const OPTIONS: S3StoreOptions = { bucket: "maps", prefix: "runs/", credentials: EXAMPLE };

describe("S3Store options", () => {
  test("AWS: the bucket's virtual host in the region; a dotted bucket by path; a custom endpoint by path", () => {
    const aws = new S3Store({ ...OPTIONS, region: "eu-west-1" });
    expect([aws.where, aws.origin]).toEqual(["s3://maps/runs/", "https://maps.s3.eu-west-1.amazonaws.com"]);
    expect(new S3Store({ ...OPTIONS, bucket: "my.maps" }).origin).toBe("https://s3.us-east-1.amazonaws.com");
    const custom = new S3Store({ ...OPTIONS, prefix: "a/b", endpoint: "http://127.0.0.1:8333" });
    expect([custom.where, custom.origin, custom.region]).toEqual([
      "s3://maps/a/b/",
      "http://127.0.0.1:8333",
      "us-east-1",
    ]);
  });

  test.each<[Partial<S3StoreOptions>, string]>([
    [{ bucket: "Maps" }, "S3 store option bucket: a bucket name has lowercase letters"],
    [{ bucket: "ab" }, 'S3 store option bucket: 2 characters; a bucket name has 3 to 63, got "ab"'],
    [{ bucket: "a..b" }, 'a bucket name has no "..", got "a..b"'],
    [{ bucket: "10.0.0.1" }, 'a bucket name is not an IP address, got "10.0.0.1"'],
    [{ bucket: "xn--maps" }, 'that prefix or suffix is reserved by AWS, got "xn--maps"'],
    [
      { prefix: "/runs" },
      'S3 store option prefix: expected a relative key prefix without "//", "." or ".." segments, got "/runs"',
    ],
    [{ prefix: "a/../b" }, 'got "a/../b"'],
    [{ region: "EU West" }, 'S3 store option region: expected a region name such as us-east-1, got "EU West"'],
    [{ endpoint: "127.0.0.1:8333" }, "S3 store option endpoint: expected an http(s) URL with no path, query or user"],
    [{ endpoint: "http://h/bucket" }, 'got "http://h/bucket"'],
    [{ maxAttempts: 0 }, "S3 store option maxAttempts: expected an integer from 1 to 10, got 0"],
    [
      { timeouts: { connectMs: -1 } },
      "S3 store option timeouts.connectMs: expected a positive number of milliseconds, got -1",
    ],
    [
      { credentials: { accessKeyId: "", secretAccessKey: "s" } },
      "credentials.accessKeyId: expected a non-empty string",
    ],
  ])("%j is refused, naming the field and the value", (over, message) => {
    expect(() => new S3Store({ ...OPTIONS, ...over })).toThrow(message);
  });

  test("a bad secret is refused without its value", () => {
    const f = () => new S3Store({ ...OPTIONS, credentials: { accessKeyId: "a", secretAccessKey: "" } });
    expect(f).toThrow("S3 store option credentials.secretAccessKey: expected a non-empty string");
  });

  test("s3Credentials reads a pod's variables and names a missing one", () => {
    expect(s3Credentials({ AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s", AWS_SESSION_TOKEN: "t" })).toEqual({
      accessKeyId: "a",
      secretAccessKey: "s",
      sessionToken: "t",
    });
    expect(s3Credentials({ AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "s", AWS_SESSION_TOKEN: "" })).toEqual({
      accessKeyId: "a",
      secretAccessKey: "s",
    });
    expect(() => s3Credentials({ AWS_ACCESS_KEY_ID: "a" })).toThrow("AWS_SECRET_ACCESS_KEY is not set");
  });

  test("keys that are not relative object keys are refused", async () => {
    const store = new S3Store({ ...OPTIONS, endpoint: "http://127.0.0.1:9" });
    for (const key of ["", "/a", "a//b", "a/../b", "./a"])
      await expect(store.has(key)).rejects.toThrow(`s3://maps/runs/: not an object key: ${JSON.stringify(key)}`);
  });
});

// The failures a real S3 server does not produce on demand (a 503 SlowDown, a connection reset, a silent body, a
// chunked body longer than the bound) come from this in-process server.
describe("S3Store against a misbehaving server", () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    server = undefined;
  });
  async function serve(
    handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
    maxAttempts = 4,
    // Short, for the cases that wait on a silent server; a case counting connections gives more (a request timed
    // out on a loaded machine is retried on a connection of its own).
    timeouts = { idleMs: 300, headersMs: 300, connectMs: 300 },
  ): Promise<S3Store> {
    let n = 0;
    server = createServer((req, res) => handler(req, res, ++n));
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    return new S3Store({
      ...OPTIONS,
      endpoint: `http://127.0.0.1:${port}`,
      maxAttempts,
      timeouts,
    });
  }

  test("requests share the store's pool of kept-alive connections: one after the other reuse one, 100 at once open at most STORE_CONCURRENCY", async () => {
    let inFlight = 0;
    let most = 0;
    const store = await serve(
      (_req, res) => {
        most = Math.max(most, ++inFlight);
        setTimeout(() => {
          inFlight--;
          res.writeHead(200, { "content-length": "2" }).end("ok");
        }, 20);
      },
      1,
      { idleMs: 60_000, headersMs: 60_000, connectMs: 60_000 },
    );
    let connections = 0;
    server?.on("connection", () => connections++);
    for (let i = 0; i < 5; i++) expect((await store.get(`k${i}`, 10))?.toString()).toBe("ok");
    expect(connections).toBe(1);
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.has(`k${i}`)));
    expect([connections <= STORE_CONCURRENCY, most]).toEqual([true, STORE_CONCURRENCY]);
  });

  test("503 SlowDown and a reset connection are retried; the request is signed for its path", async () => {
    const seen: string[] = [];
    const store = await serve((req, res, n) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization?.includes("Credential=AKIAIOSFODNN7EXAMPLE/")}`);
      if (n === 1) return void res.writeHead(503).end("<Error><Code>SlowDown</Code></Error>");
      if (n === 2) return void req.socket.destroy();
      res.writeHead(200, { "content-length": "2" }).end("ok");
    });
    expect((await store.get("a b", 10))?.toString()).toBe("ok");
    expect(seen).toEqual(Array(3).fill("GET /maps/runs/a%20b true"));
  });

  test("a listing: the query as sent (versitygw checks its signature: test/e2e/s3-store), keys unescaped, a truncated page without a token or a huge one refused", async () => {
    const seen: string[] = [];
    const page = (keys: string[], more: string) =>
      `<ListBucketResult>${keys.map((k) => `<Contents><Key>${k}</Key></Contents>`).join("")}${more}</ListBucketResult>`;
    let mode = "ok";
    const store = await serve((req, res) => {
      seen.push(`${req.url}`);
      if (mode === "ok")
        return void res
          .writeHead(200)
          .end(
            req.url?.includes("continuation-token")
              ? page(["runs/results/c"], "")
              : page(
                  ["runs/results/a&amp;b", "runs/other/x"],
                  "<IsTruncated>true</IsTruncated><NextContinuationToken>t+1/=</NextContinuationToken>",
                ),
          );
      if (mode === "no-token") return void res.writeHead(200).end(page([], "<IsTruncated>true</IsTruncated>"));
      if (mode === "forbidden") return void res.writeHead(403).end("<Error><Code>AccessDenied</Code></Error>");
      res.writeHead(200);
      res.end(Buffer.alloc(9 << 20, 32));
    });
    expect(await store.list("results/", 10)).toEqual(["results/a&b", "results/c"]);
    expect(seen).toEqual([
      "/maps?list-type=2&prefix=runs%2Fresults%2F&max-keys=1000",
      "/maps?list-type=2&prefix=runs%2Fresults%2F&max-keys=1000&continuation-token=t%2B1%2F%3D",
    ]);
    expect(await store.list("results/", 1)).toBeUndefined();
    mode = "no-token";
    expect(await store.list("results/", 10)).toBeUndefined();
    mode = "forbidden";
    expect(await store.list("results/", 10)).toBeUndefined();
    mode = "huge";
    await expect(store.list("results/", 10)).rejects.toThrow(
      "s3://maps/runs/results/: a listing page is larger than 8388608 bytes",
    );
  });

  test("attempts are bounded: the last answer's S3 code is named", async () => {
    let seen = 0;
    const store = await serve((_req, res) => {
      seen++;
      res.writeHead(503).end("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
    });
    await expect(store.put("k", Buffer.from("x"))).rejects.toThrow(
      /^s3:\/\/maps\/runs\/ at http:\/\/127\.0\.0\.1:\d+: PUT k failed \(HTTP 503 SlowDown\): Please reduce your request rate\.$/,
    );
    expect(seen).toBe(4);
  });

  test("a body that stops is an idle timeout, retried, then an E_MAP_STORE error", async () => {
    const store = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "10" });
      res.write("abc");
    }, 2);
    const e = await store.get("k", 100).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ObjectStoreError);
    expect((e as ObjectStoreError).message).toMatch(
      /^s3:\/\/maps\/runs\/k at http:\/\/127\.0\.0\.1:\d+ \(GET\): idle for 300 ms \(2 attempts\)$/,
    );
  });

  test("a chunked body beyond the bound is cut off as it flows: E_MAP_STORE_TOO_LARGE", async () => {
    let sent = 0;
    const store = await serve((_req, res) => {
      res.writeHead(200); // no length: chunked
      const chunk = Buffer.alloc(64 * 1024);
      const more = () => {
        while (sent < 64 << 20 && res.write(chunk)) sent += chunk.length;
        if (sent < 64 << 20) res.once("drain", more);
        else res.end();
      };
      more();
    });
    const e = await store.get("k", 1 << 20).catch((x: unknown) => x);
    expect((e as ObjectStoreError).code).toBe("E_MAP_STORE_TOO_LARGE");
    expect((e as ObjectStoreError).message).toBe(
      "s3://maps/runs/k: more than 1048576 bytes, above the limit of 1048576",
    );
    expect(sent).toBeLessThan(32 << 20);
  });
});
