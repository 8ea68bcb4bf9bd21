/**
 * The registry client against the real CNCF registry (docker-registry), checked independently with
 * skopeo; plus a few in-process fake servers for behaviour a real registry cannot be made to show.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "../../src/oci/digest";
import { parseReference } from "../../src/oci/reference";
import { readLayout } from "../../src/layout/read";
import { dockerConfigKeychain } from "../../src/registry-auth/docker-config";
import { RegistryClient } from "../../src/registry/client";
import { pushImage } from "../../src/registry/push";
import { inspect, pullImage, resolveDigest } from "../../src/registry/pull";
import { pullToLayout } from "../../src/transfer/pull";
import {
  startFakeServer,
  startRegistry,
  writeDockerConfig,
  type RunningRegistry,
  type FakeServer,
} from "../fixtures/registry";
import { randomImage } from "../fixtures/random-image";
import { pipelineErrorOf as caught } from "../fixtures/errors";

const SKOPEO = "/usr/bin/skopeo";
const FAST_RETRY = { retries: 1, baseDelayMs: 10, timeoutMs: 5000 };

function skopeo(args: string[]): string {
  return execFileSync(SKOPEO, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
}

/** Reads each layer of `image` from `repository` as a layout's file is written (fetchBlob); says whether each body bypassed node:http. */
async function fetchLayers(
  client: RegistryClient,
  repository: string,
  image: ReturnType<typeof randomImage>,
): Promise<boolean[]> {
  const direct: boolean[] = [];
  for (const l of image.layers) {
    const chunks: Buffer[] = [];
    const f = client.fetchBlob(repository, l.digest, l.size);
    await f.into((c) => chunks.push(Buffer.from(c)));
    expect(sha256(Buffer.concat(chunks))).toBe(l.digest);
    direct.push(f.readDirectly);
  }
  return direct;
}

/** The raw manifest skopeo fetches, and its digest. */
function skopeoRawDigest(ref: string, creds?: string): string {
  const raw = execFileSync(
    SKOPEO,
    ["inspect", "--tls-verify=false", ...(creds ? ["--creds", creds] : []), "--raw", `docker://${ref}`],
    {
      timeout: 120_000,
    },
  );
  return sha256(raw);
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "registry-client-e2e-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("real registry, anonymous", () => {
  let reg: RunningRegistry;
  // No credentials anywhere: a config path that does not exist.
  const keychain = () => dockerConfigKeychain({ path: join(tmp, "absent", "config.json") });

  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("pushes a random 3-layer image that skopeo reads back with the same digest", async () => {
    const image = randomImage({ layers: 3, layerSize: 8192 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/anon", tags: ["v1", "latest"] },
      { keychain: keychain() },
    );
    expect(result.digest).toBe(image.digest);
    expect(result.reference).toBe(`${reg.host}/e2e/anon@${image.digest}`);
    expect(result.uploaded.map((u) => u.digest).sort()).toEqual(
      [image.configBlob.digest, ...image.layers.map((l) => l.digest)].sort(),
    );
    expect(result.skipped).toEqual([]);
    expect(result.tags).toEqual(["v1", "latest"]);

    expect(skopeoRawDigest(result.reference)).toBe(image.digest);
    expect(skopeoRawDigest(`${reg.host}/e2e/anon:v1`)).toBe(image.digest);
    const out = join(tmp, "skopeo-anon");
    skopeo(["copy", "--src-tls-verify=false", `docker://${result.reference}`, `oci:${out}:copied`]);
    const copied = readLayout(out, { refName: "copied" });
    expect(copied.digest).toBe(image.digest);
    expect(copied.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));

    // The manifest went up by digest, then under each tag; blobs were POSTed then PUT monolithically.
    const reqs = reg.requests();
    expect(
      reqs.filter((r) => r.method === "PUT" && r.path.startsWith("/v2/e2e/anon/manifests/")).map((r) => r.path),
    ).toEqual([`/v2/e2e/anon/manifests/${image.digest}`, "/v2/e2e/anon/manifests/v1", "/v2/e2e/anon/manifests/latest"]);
    expect(reqs.filter((r) => r.method === "PATCH")).toEqual([]);
  });

  it("pushing the same image again skips every blob", async () => {
    const image = randomImage({ layers: 3 });
    await pushImage(image, { registry: reg.host, repository: "e2e/again" }, { keychain: keychain() });
    await new Promise((r) => setTimeout(r, 100)); // let the access log catch up
    const before = reg.requests().length;
    const again = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/again", tags: ["t"] },
      { keychain: keychain() },
    );
    expect(again.uploaded).toEqual([]);
    expect(again.mounted).toEqual([]);
    expect(again.skipped.sort()).toEqual([image.configBlob.digest, ...image.layers.map((l) => l.digest)].sort());
    await new Promise((r) => setTimeout(r, 100)); // let the access log catch up
    const later = reg.requests().slice(before);
    expect(later.filter((r) => r.path.includes("/blobs/uploads/"))).toEqual([]);
    // The registry has the manifest: no blob is checked; the new tag is PUT.
    expect(later.filter((r) => r.path.includes("/blobs/"))).toEqual([]);
    expect(later.map((r) => `${r.method} ${r.path}`)).toEqual([
      "HEAD /v2/e2e/again/manifests/t",
      `HEAD /v2/e2e/again/manifests/${image.digest}`,
      "PUT /v2/e2e/again/manifests/t",
    ]);
    // Again with that tag: one request.
    const before2 = reg.requests().length;
    await pushImage(image, { registry: reg.host, repository: "e2e/again", tags: ["t"] }, { keychain: keychain() });
    await new Promise((r) => setTimeout(r, 100));
    expect(
      reg
        .requests()
        .slice(before2)
        .map((r) => `${r.method} ${r.path}`),
    ).toEqual(["HEAD /v2/e2e/again/manifests/t"]);
  });

  it("uploads big blobs in chunks (PATCH with Content-Range, following Location) when over the threshold", async () => {
    const image = randomImage({ layers: 2, layerSize: 300 * 1024, dir: join(tmp, "chunky") });
    const before = reg.requests().length;
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/chunked", tags: ["big"] },
      { keychain: keychain(), chunkThreshold: 64 * 1024, chunkSize: 100 * 1024 },
    );
    expect(result.uploaded).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 100));
    const patches = reg
      .requests()
      .slice(before)
      .filter((r) => r.method === "PATCH");
    expect(patches.length).toBeGreaterThanOrEqual(2 * 4); // 300 KiB + tar/gzip overhead in 100 KiB chunks, per layer
    expect(patches.every((p) => p.status === 202)).toBe(true);
    expect(skopeoRawDigest(`${reg.host}/e2e/chunked:big`)).toBe(image.digest);

    const layout = join(tmp, "chunked-pulled");
    await pullToLayout(parseReference(`${reg.host}/e2e/chunked:big`), layout, { keychain: keychain() });
    const back = readLayout(layout, { refName: "big" });
    expect(back.layers.map((l) => [l.digest, l.size])).toEqual(image.layers.map((l) => [l.digest, l.size]));
  });

  it("uploads a blob over the threshold in one PATCH by default (as crane and skopeo do), closed by the PUT", async () => {
    const image = randomImage({ layers: 2, layerSize: 300 * 1024, dir: join(tmp, "one-patch") });
    const before = reg.requests().length;
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/one-patch", tags: ["big"] },
      { keychain: keychain(), chunkThreshold: 64 * 1024 },
    );
    expect(result.uploaded).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 100));
    const uploads = reg
      .requests()
      .slice(before)
      .filter((r) => r.path.includes("/blobs/uploads/"));
    expect(uploads.filter((r) => r.method === "PATCH").map((r) => r.status)).toEqual([202, 202]); // one per layer; the config is below
    expect(uploads.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([201, 201, 201]);
    expect(skopeoRawDigest(`${reg.host}/e2e/one-patch:big`)).toBe(image.digest);
  });

  it("mounts blobs from another repository of the same registry", async () => {
    const image = randomImage({ layers: 3 });
    await pushImage(image, { registry: reg.host, repository: "e2e/source" }, { keychain: keychain() });
    const before = reg.requests().length;
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/mounted", tags: ["m"] },
      {
        keychain: keychain(),
        mountFrom: [
          { registry: "elsewhere.example.com", repository: "e2e/source" }, // other registry: ignored
          { registry: reg.host, repository: "e2e/source" },
        ],
      },
    );
    expect(result.mounted.sort()).toEqual([image.configBlob.digest, ...image.layers.map((l) => l.digest)].sort());
    expect(result.uploaded).toEqual([]);
    await new Promise((r) => setTimeout(r, 100));
    const mounts = reg
      .requests()
      .slice(before)
      .filter((r) => r.method === "POST" && r.path.includes("mount="));
    expect(mounts).toHaveLength(4);
    expect(mounts.every((m) => m.status === 201 && m.path.includes("from=e2e%2Fsource"))).toBe(true);
    expect(skopeoRawDigest(`${reg.host}/e2e/mounted:m`)).toBe(image.digest);
  });

  it("falls back to uploading when the mount source lacks the blob", async () => {
    const image = randomImage({ layers: 1 });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/mount-miss" },
      { keychain: keychain(), mountFrom: [{ registry: reg.host, repository: "e2e/nothing-here" }] },
    );
    expect(result.mounted).toEqual([]);
    expect(result.uploaded).toHaveLength(2);
    expect(skopeoRawDigest(result.reference)).toBe(image.digest);
  });

  it("pulls an image back into an OCI layout with the same digests; inspect and resolveDigest agree", async () => {
    const image = randomImage({ layers: 3, layerSize: 20_000 });
    await pushImage(image, { registry: reg.host, repository: "e2e/pull", tags: ["v2"] }, { keychain: keychain() });
    const ref = parseReference(`${reg.host}/e2e/pull:v2`);

    expect(await resolveDigest(ref, { keychain: keychain() })).toBe(image.digest);
    const info = await inspect(ref, { keychain: keychain() });
    expect(info.digest).toBe(image.digest);
    expect(info.config.rootfs?.diff_ids).toEqual(image.layers.map((l) => l.diffId));
    expect(info.manifest.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));

    const dir = join(tmp, "pulled");
    const pulled = await pullToLayout(ref, dir, { keychain: keychain() });
    expect(pulled).toEqual({ digest: image.digest, refName: "v2" });
    const back = readLayout(dir, { refName: "v2" });
    expect(back.digest).toBe(image.digest);
    expect(back.configBytes.equals(image.configBytes)).toBe(true);
    expect(readdirSync(join(dir, "blobs", "sha256")).sort()).toEqual(
      [image.digest, image.configBlob.digest, ...image.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort(),
    );

    // By digest too, and skopeo agrees with what we pulled.
    const byDigest = await pullImage(parseReference(`${reg.host}/e2e/pull@${image.digest}`), { keychain: keychain() });
    expect(byDigest.manifestBytes.equals(image.manifestBytes)).toBe(true);
  });

  it("reads the registry's blob bodies past node:http (blob-fetch.ts), the bytes it stored", async () => {
    const image = randomImage({ layers: 2, layerSize: 3_000_000 });
    await pushImage(image, { registry: reg.host, repository: "e2e/direct", tags: ["v1"] }, { keychain: keychain() });
    expect(await fetchLayers(new RegistryClient(reg.host, { keychain: keychain() }), "e2e/direct", image)).toEqual([
      true,
      true,
    ]);
  });

  it("lists tags", async () => {
    const image = randomImage({ layers: 1 });
    await pushImage(
      image,
      { registry: reg.host, repository: "e2e/tags", tags: ["a", "b", "c"] },
      { keychain: keychain() },
    );
    const tags = await new RegistryClient(reg.host, { keychain: keychain() }).listTags("e2e/tags");
    expect(tags.sort()).toEqual(["a", "b", "c"]);
  });

  it("reports a missing tag or repository as E_NOT_FOUND", async () => {
    const e = await caught(pullImage(parseReference(`${reg.host}/e2e/pull:nope`), { keychain: keychain() }));
    expect(e.code).toBe("E_NOT_FOUND");
    expect(e.message).toContain(reg.host);
    expect(e.message).toContain("MANIFEST_UNKNOWN");
    const e2 = await caught(new RegistryClient(reg.host, { keychain: keychain() }).listTags("e2e/never-pushed"));
    expect(e2.code).toBe("E_NOT_FOUND");
  });
});

describe("real registry with htpasswd Basic auth", () => {
  const user = "alice";
  const password = "s3cret-Pa55-word-e2e";
  let reg: RunningRegistry;
  let configDir: string;

  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user, password } });
    configDir = mkdtempSync(join(tmp, "docker-config-"));
    writeDockerConfig(configDir, { [reg.host]: { username: user, password } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("pushes with credentials from DOCKER_CONFIG config.json; skopeo reads it back", async () => {
    const image = randomImage({ layers: 3 });
    const keychain = dockerConfigKeychain({ env: { DOCKER_CONFIG: configDir } });
    const result = await pushImage(
      image,
      { registry: reg.host, repository: "e2e/private", tags: ["v1"] },
      { keychain },
    );
    expect(result.uploaded).toHaveLength(4);
    const creds = `${user}:${password}`;
    expect(skopeoRawDigest(result.reference, creds)).toBe(image.digest);
    const out = join(tmp, "skopeo-private");
    skopeo(["copy", "--src-tls-verify=false", "--src-creds", creds, `docker://${result.reference}`, `oci:${out}:v1`]);
    expect(readLayout(out, { refName: "v1" }).digest).toBe(image.digest);

    const dir = join(tmp, "private-pulled");
    await pullToLayout(parseReference(`${reg.host}/e2e/private:v1`), dir, { keychain });
    expect(readLayout(dir).digest).toBe(image.digest);
    // After the registry's 401 and the answer with credentials, the body is still read past node:http.
    expect(await fetchLayers(new RegistryClient(reg.host, { keychain }), "e2e/private", image)).toEqual([
      true,
      true,
      true,
    ]);
  });

  it("a wrong password is E_UNAUTHORIZED naming the credential source, never the secret", async () => {
    const wrong = "wr0ng-Pa55-never-shown";
    const dir = mkdtempSync(join(tmp, "docker-config-wrong-"));
    writeDockerConfig(dir, { [`http://${reg.host}/v1/`]: { username: user, password: wrong } });
    const logs: string[] = [];
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "e2e/private" },
        { keychain: dockerConfigKeychain({ env: { DOCKER_CONFIG: dir } }), log: (l) => logs.push(l) },
      ),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(reg.host);
    expect(e.message).toContain("e2e/private");
    expect(e.message).toContain(`docker config ${join(dir, "config.json")} auths["http://${reg.host}/v1/"]`);
    const b64 = Buffer.from(`${user}:${wrong}`).toString("base64");
    for (const text of [e.message, String(e.stack), ...logs]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(b64);
    }
    expect(logs.length).toBeGreaterThan(0);
  });

  it("no credentials is E_UNAUTHORIZED saying where it looked", async () => {
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: reg.host, repository: "e2e/private" },
        { keychain: dockerConfigKeychain({ env: { DOCKER_CONFIG: join(tmp, "empty") } }) },
      ),
    );
    expect(e.code).toBe("E_UNAUTHORIZED");
    expect(e.message).toContain(`no credentials found; looked in docker config ${join(tmp, "empty", "config.json")}`);
  });
});

describe("unreachable registry", () => {
  it("fails fast with E_REGISTRY_UNREACHABLE on a closed port", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const started = Date.now();
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: `127.0.0.1:${port}`, repository: "x/y" },
        { keychain: dockerConfigKeychain({ path: join(tmp, "none") }), retry: FAST_RETRY },
      ),
    );
    expect(e.code).toBe("E_REGISTRY_UNREACHABLE");
    expect(e.message).toContain(`127.0.0.1:${port}`);
    expect(e.message).toContain("ECONNREFUSED");
    expect(e.message).toMatch(/check manifest sha256:[0-9a-f]{64} in /); // a push asks for the manifest first
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("in-process fake servers (what a real registry will not do on demand)", () => {
  const servers: FakeServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  const start = async (...args: Parameters<typeof startFakeServer>) => {
    const s = await startFakeServer(...args);
    servers.push(s);
    return s;
  };
  const staticKeychain = (host: string, username: string, password: string) => ({
    resolve: async (registry: string) =>
      registry === host ? { credential: { username, password }, source: "test keychain" } : undefined,
    describe: () => "test keychain",
  });

  /** A minimal push-only registry; `putBlob` decides the answer to each blob PUT. */
  function fakePushRegistry(opts: {
    putBlob?: (digest: string, body: Buffer, attempt: number) => number;
    manifestDigest?: (real: string) => string;
  }) {
    const attempts = new Map<string, number>();
    let uploads = 0;
    return start((req, res) => {
      const url = new URL(req.url, "http://x");
      if (req.method === "HEAD" && url.pathname.includes("/blobs/")) return void res.writeHead(404).end();
      if (req.method === "POST" && url.pathname.endsWith("/blobs/uploads/")) {
        return void res.writeHead(202, { Location: `/upload/${++uploads}` }).end();
      }
      if (req.method === "PUT" && url.pathname.startsWith("/upload/")) {
        const digest = url.searchParams.get("digest")!;
        const n = (attempts.get(digest) ?? 0) + 1;
        attempts.set(digest, n);
        const status = opts.putBlob?.(digest, req.body, n) ?? (sha256(req.body) === digest ? 201 : 400);
        return void res.writeHead(status, status === 201 ? { "Docker-Content-Digest": digest } : {}).end();
      }
      if (req.method === "PUT" && url.pathname.includes("/manifests/")) {
        const real = sha256(req.body);
        return void res.writeHead(201, { "Docker-Content-Digest": opts.manifestDigest?.(real) ?? real }).end();
      }
      res.writeHead(404).end();
    });
  }

  it("retries 5xx answers to a blob PUT, reopening the streamed body each time", async () => {
    const fake = await fakePushRegistry({
      putBlob: (digest, body, attempt) => (attempt < 3 ? 503 : sha256(body) === digest ? 201 : 400),
    });
    const image = randomImage({ layers: 1 });
    let opens = 0;
    const layer = image.layers[0];
    const counted = { ...image, layers: [{ ...layer, open: () => (opens++, layer.open()) }] };
    const logs: string[] = [];
    const result = await pushImage(
      counted,
      { registry: fake.host, repository: "r" },
      { retry: { retries: 3, baseDelayMs: 5 }, log: (l) => logs.push(l) },
    );
    expect(result.uploaded).toHaveLength(2);
    expect(opens).toBe(3);
    const puts = fake.requests.filter((r) => r.method === "PUT" && r.url.includes(layer.digest.slice(7)));
    expect(puts).toHaveLength(3);
    expect(puts.every((p) => p.body.length === layer.size)).toBe(true);
    expect(logs.filter((l) => /HTTP 503; retrying/.test(l)).length).toBeGreaterThanOrEqual(4);
  });

  it("gives up after the configured retries with the status and registry in the error", async () => {
    const fake = await fakePushRegistry({ putBlob: () => 500 });
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: fake.host, repository: "r" },
        { retry: { retries: 2, baseDelayMs: 1 } },
      ),
    );
    expect(e.code).toBe("E_REGISTRY");
    expect(e.message).toContain("HTTP 500");
    expect(e.message).toContain(fake.host);
  });

  it("honours 429 Retry-After", async () => {
    let calls = 0;
    const fake = await start((_req, res) => {
      if (++calls === 1) return void res.writeHead(429, { "Retry-After": "1" }).end();
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
    const started = Date.now();
    await new RegistryClient(fake.host, { retry: { retries: 2, baseDelayMs: 1 } }).ping();
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("follows a blob redirect to another host without sending Authorization there", async () => {
    const content = Buffer.from("layer bytes from object storage");
    const digest = sha256(content);
    const storage = await start((_req, res) => void res.writeHead(200).end(content), "localhost");
    const reg = await start((req, res) => {
      if (!req.headers.authorization)
        return void res.writeHead(401, { "WWW-Authenticate": 'Basic realm="fake"' }).end();
      res.writeHead(307, { Location: `${storage.url}/storage/${digest.slice(7)}?X-Amz-Signature=sekrit` }).end();
    });
    const client = new RegistryClient(reg.host, { keychain: staticKeychain(reg.host, "bob", "hunter2") });
    const got = await client.getBlob("r", { digest, size: content.length });
    expect(got.equals(content)).toBe(true);
    expect(reg.requests.at(-1)!.headers.authorization).toBe("Basic " + Buffer.from("bob:hunter2").toString("base64"));
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0].headers.authorization).toBeUndefined();
    expect(storage.requests[0].url).toContain("X-Amz-Signature=sekrit");
  });

  it("rejects a push whose manifest PUT answers another Docker-Content-Digest", async () => {
    const fake = await fakePushRegistry({ manifestDigest: () => "sha256:" + "0".repeat(64) });
    const e = await caught(
      pushImage(
        randomImage({ layers: 1 }),
        { registry: fake.host, repository: "r", tags: ["t"] },
        { retry: FAST_RETRY },
      ),
    );
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    expect(e.message).toContain("sha256:" + "0".repeat(64));
    // Nothing after the failed PUT by digest: no tag was written.
    expect(fake.requests.filter((r) => r.method === "PUT" && r.url.endsWith("/manifests/t"))).toEqual([]);
  });

  it("rejects a manifest or blob whose bytes do not match the digest asked for", async () => {
    const image = randomImage({ layers: 1 });
    const tampered = Buffer.from(
      image.manifestBytes.toString("utf8").replace('"schemaVersion":2', '"schemaVersion": 2'),
    );
    const fake = await start((req, res) => {
      if (req.url.includes("/manifests/"))
        return void res.writeHead(200, { "Content-Type": image.mediaType }).end(tampered);
      res.writeHead(200).end(Buffer.from("not the layer"));
    });
    const e = await caught(pullImage(parseReference(`${fake.host}/r@${image.digest}`), { retry: FAST_RETRY }));
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    const e2 = await caught(new RegistryClient(fake.host).getBlob("r", image.layers[0]));
    expect(e2.code).toBe("E_DIGEST_MISMATCH");
  });
});
