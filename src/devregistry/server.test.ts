import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { sha256 } from "../oci/digest";
import { startDevRegistry } from "./server";
import { pushBlob, pushImage, request, type TempRegistry, tempRegistry } from "./testing";

type Errors = { errors: { code: string; message: string }[] };
const codes = (body: Buffer): string[] => (JSON.parse(body.toString()) as Errors).errors.map((e) => e.code);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "devregistry-server-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function temp(opts: Parameters<typeof tempRegistry>[0] = {}): Promise<TempRegistry> {
  const reg = await tempRegistry(opts);
  cleanups.push(() => reg.cleanup());
  return reg;
}

describe("routing", () => {
  it("GET /v2/ answers 200 with the API version header", async () => {
    const reg = await temp();
    for (const path of ["/v2/", "/v2"]) {
      const res = await request(reg.address, "GET", path);
      expect(res.status).toBe(200);
      expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
      expect(res.json()).toEqual({});
    }
    expect(reg.host).toBe("127.0.0.1");
    expect(reg.address).toBe(`127.0.0.1:${reg.port}`);
  });

  it("validates repository names (NAME_INVALID)", async () => {
    const reg = await temp();
    for (const name of ["Upper/case", "a//b", "-lead", "trail-", "a/_x", "a".repeat(300)]) {
      const res = await request(reg.address, "GET", `/v2/${name}/tags/list`);
      expect(res.status, name).toBe(400);
      expect(codes(res.body)).toEqual(["NAME_INVALID"]);
    }
    for (const name of ["a", "a/b/c", "a.b_c__d--e/f-g"]) {
      const res = await request(reg.address, "GET", `/v2/${name}/tags/list`);
      expect(res.status, name).toBe(404); // valid, just unknown
    }
  });

  it("answers unknown endpoints 404 and wrong methods 405, always with a JSON error body", async () => {
    const reg = await temp();
    const nf = await request(reg.address, "GET", "/v1/whatever");
    expect(nf.status).toBe(404);
    expect(codes(nf.body)).toEqual(["UNSUPPORTED"]);
    const na = await request(reg.address, "PATCH", `/v2/a/manifests/latest`);
    expect(na.status).toBe(405);
    expect(na.headers.allow).toContain("PUT");
    expect(na.headers["docker-distribution-api-version"]).toBe("registry/2.0");
  });

  it("a digest in the path may be percent-encoded", async () => {
    const reg = await temp();
    const digest = await pushBlob(reg.address, "enc", Buffer.from("hello"));
    const res = await request(reg.address, "GET", `/v2/enc/blobs/${digest.replace(":", "%3A")}`);
    expect(res.status).toBe(200);
  });
});

describe("auth", () => {
  const creds = { user: "alice", password: "s3cret:with colon" };

  it("requires Basic auth on every endpoint, /v2/ included", async () => {
    const reg = await temp({ auth: creds });
    for (const [method, path] of [
      ["GET", "/v2/"],
      ["GET", "/v2/_catalog"],
      ["POST", "/v2/a/blobs/uploads/"],
    ]) {
      const res = await request(reg.address, method, path);
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Basic realm="pipeline-dev-registry"');
      expect(codes(res.body)).toEqual(["UNAUTHORIZED"]);
    }
    for (const auth of [
      { user: "alice", password: "wrong" },
      { user: "bob", password: creds.password },
      { user: "alice", password: "" },
    ]) {
      expect((await request(reg.address, "GET", "/v2/", { auth })).status).toBe(401);
    }
    const bad = await request(reg.address, "GET", "/v2/", { headers: { Authorization: "Bearer abc" } });
    expect(bad.status).toBe(401);
  });

  it("accepts the right credentials for push and pull", async () => {
    const reg = await temp({ auth: creds });
    expect((await request(reg.address, "GET", "/v2/", { auth: creds })).status).toBe(200);
    const img = await pushImage(reg.address, "secure/app", "v1", [randomBytes(100)], creds);
    const get = await request(reg.address, "GET", "/v2/secure/app/manifests/v1", { auth: creds });
    expect(get.body.equals(img.manifest)).toBe(true);
  });
});

describe("logging", () => {
  it("logs one line per request (method, path, status, bytes, ms) and never credentials", async () => {
    const lines: string[] = [];
    const creds = { user: "u", password: "hunter2-password" };
    const reg = await temp({ log: (l) => lines.push(l), auth: creds });
    await request(reg.address, "GET", "/v2/");
    const bytes = randomBytes(1234);
    await pushBlob(reg.address, "logged", bytes, creds);
    await request(reg.address, "GET", `/v2/logged/blobs/${sha256(bytes)}?token=abc`, { auth: creds });
    await new Promise((r) => setTimeout(r, 20));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^GET \/v2\/ 401 \d+ [\d.]+ms$/);
    expect(lines[1]).toMatch(/^POST \/v2\/logged\/blobs\/uploads\/ 201 1234 [\d.]+ms$/);
    expect(lines[2]).toMatch(new RegExp(`^GET /v2/logged/blobs/${sha256(bytes)} 200 1234 [\\d.]+ms$`));
    const all = lines.join("\n");
    expect(all).not.toContain("hunter2");
    expect(all).not.toContain(Buffer.from("u:hunter2-password").toString("base64"));
    expect(all).not.toContain("token");
  });

  it("is silent without a logger", async () => {
    const reg = await temp();
    expect((await request(reg.address, "GET", "/v2/")).status).toBe(200);
  });
});

describe("startup errors and persistence", () => {
  it("a root that is not a writable directory: E_REGISTRY_ROOT naming --root and the path", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "x");
    const root = join(file, "sub");
    const err = await startDevRegistry({ root, port: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe("E_REGISTRY_ROOT");
    expect((err as PipelineError).message).toContain("--root");
    expect((err as PipelineError).message).toContain(root);
  });

  it("a port in use: E_ADDR_IN_USE naming the address", async () => {
    const reg = await temp();
    const err = await startDevRegistry({ root: join(dir, "second"), port: reg.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe("E_ADDR_IN_USE");
    expect((err as PipelineError).message).toContain(`127.0.0.1:${reg.port}`);
  });

  it("rejects a bad port number", async () => {
    const err = await startDevRegistry({ root: join(dir, "p"), port: 70000 }).catch((e: unknown) => e);
    expect((err as PipelineError).code).toBe("E_USAGE");
  });

  it("data and open upload sessions survive a restart on the same root", async () => {
    const root = join(dir, "persist");
    let reg = await startDevRegistry({ root, port: 0 });
    const img = await pushImage(reg.address, "keep/me", "v1", [randomBytes(4096)]);
    const bytes = randomBytes(10_000);
    const post = await request(reg.address, "POST", "/v2/keep/me/blobs/uploads/");
    const loc = post.headers.location as string;
    await request(reg.address, "PATCH", loc, { body: bytes.subarray(0, 6000) });
    await reg.close();

    reg = await startDevRegistry({ root, port: 0 });
    cleanups.push(() => reg.close());
    const get = await request(reg.address, "GET", "/v2/keep/me/manifests/v1");
    expect(get.body.equals(img.manifest)).toBe(true);
    expect(
      (await request(reg.address, "GET", `/v2/keep/me/blobs/${sha256(img.layers[0])}`)).body.equals(img.layers[0]),
    ).toBe(true);
    expect((await request(reg.address, "GET", "/v2/keep/me/tags/list")).json()).toEqual({
      name: "keep/me",
      tags: ["v1"],
    });
    expect((await request(reg.address, "GET", loc)).headers.range).toBe("0-5999");
    const done = await request(reg.address, "PUT", `${loc}?digest=${sha256(bytes)}`, { body: bytes.subarray(6000) });
    expect(done.status).toBe(201);
    expect((await readFile(join(root, "blobs", "sha256", sha256(bytes).slice(7)))).equals(bytes)).toBe(true);
    expect(await readFile(join(root, "repositories", "keep", "me", "_manifests", "tags", "v1"), "utf8")).toBe(
      img.digest,
    );
  });

  it("close() ends idle keep-alive connections promptly", async () => {
    const reg = await startDevRegistry({ root: join(dir, "close"), port: 0 });
    await fetch(`http://${reg.address}/v2/`); // undici keeps the connection alive
    const t = Date.now();
    await reg.close();
    expect(Date.now() - t).toBeLessThan(1000);
  });
});
