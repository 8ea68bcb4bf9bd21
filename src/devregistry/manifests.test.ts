import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { paginate } from "./paginate";
import { imageManifest, pushBlob, pushImage, request, type TempRegistry, tempRegistry } from "./testing";

let reg: TempRegistry;
let addr: string;
beforeAll(async () => {
  reg = await tempRegistry();
  addr = reg.address;
});
afterAll(async () => reg.cleanup());

type Errors = { errors: { code: string; message: string; detail?: unknown }[] };
const codes = (body: Buffer): string[] => (JSON.parse(body.toString()) as Errors).errors.map((e) => e.code);

function put(repo: string, ref: string, body: Buffer | string, contentType = MediaType.OCI_MANIFEST as string) {
  return request(addr, "PUT", `/v2/${repo}/manifests/${ref}`, { body, headers: { "Content-Type": contentType } });
}

describe("manifests", () => {
  it("PUT by tag stores the exact bytes; GET/HEAD by tag and digest return them with the stored media type", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const layer = randomBytes(1000);
    await pushBlob(addr, "x/app", config);
    await pushBlob(addr, "x/app", layer);
    // Unusual whitespace: the registry must not re-serialize.
    const manifest = Buffer.from(imageManifest(config, [layer]).toString().replace(/,/g, ",\n  "));
    const digest = sha256(manifest);
    const res = await put("x/app", "v1", manifest);
    expect(res.status).toBe(201);
    expect(res.headers["docker-content-digest"]).toBe(digest);
    expect(res.headers.location).toBe(`/v2/x/app/manifests/${digest}`);
    for (const ref of ["v1", digest]) {
      const get = await request(addr, "GET", `/v2/x/app/manifests/${ref}`);
      expect(get.status).toBe(200);
      expect(get.body.equals(manifest)).toBe(true);
      expect(get.headers["content-type"]).toBe(MediaType.OCI_MANIFEST);
      expect(get.headers["docker-content-digest"]).toBe(digest);
      const head = await request(addr, "HEAD", `/v2/x/app/manifests/${ref}`);
      expect(head.status).toBe(200);
      expect(head.headers["content-length"]).toBe(String(manifest.length));
      expect(head.headers["docker-content-digest"]).toBe(digest);
      expect(head.body.length).toBe(0);
    }
  });

  it("keeps a Docker media type", async () => {
    const config = Buffer.from('{"architecture":"arm64","os":"linux"}');
    await pushBlob(addr, "x/docker", config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DOCKER_MANIFEST,
        config: { mediaType: MediaType.DOCKER_CONFIG, digest: sha256(config), size: config.length },
        layers: [],
      }),
    );
    expect((await put("x/docker", "latest", manifest, MediaType.DOCKER_MANIFEST)).status).toBe(201);
    const get = await request(addr, "GET", "/v2/x/docker/manifests/latest");
    expect(get.headers["content-type"]).toBe(MediaType.DOCKER_MANIFEST);
  });

  it("PUT by digest must match the bytes (DIGEST_INVALID) and creates no tag", async () => {
    const img = await pushImage(addr, "x/bydigest", "t", [randomBytes(10)]);
    const again = await put("x/bydigest", img.digest, img.manifest);
    expect(again.status).toBe(201);
    const wrong = await put("x/bydigest", sha256("other"), img.manifest);
    expect(wrong.status).toBe(400);
    expect(codes(wrong.body)).toEqual(["DIGEST_INVALID"]);
    const tags = await request(addr, "GET", "/v2/x/bydigest/tags/list");
    expect(tags.json()).toEqual({ name: "x/bydigest", tags: ["t"] });
  });

  it("rejects manifests whose blobs the repository does not have (MANIFEST_BLOB_UNKNOWN)", async () => {
    const config = Buffer.from("{}");
    const layers = [randomBytes(10), randomBytes(10)];
    await pushBlob(addr, "x/other", layers[0]); // in another repository: does not count
    const res = await put("x/missing", "t", imageManifest(config, layers));
    expect(res.status).toBe(400);
    expect(codes(res.body)).toEqual(["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]);
    expect((await request(addr, "GET", "/v2/x/missing/manifests/t")).status).toBe(404);
  });

  it("rejects a descriptor whose size differs from the stored blob", async () => {
    const config = Buffer.from('{"a":1}');
    await pushBlob(addr, "x/size", config);
    const m = JSON.parse(imageManifest(config, []).toString()) as { config: { size: number } };
    m.config.size += 1;
    const res = await put("x/size", "t", JSON.stringify(m));
    expect(res.status).toBe(400);
    expect(codes(res.body)).toEqual(["MANIFEST_INVALID"]);
  });

  it("rejects invalid JSON, a mediaType that contradicts Content-Type, a bad tag, oversized bodies", async () => {
    expect(codes((await put("x/bad", "t", "{not json")).body)).toEqual(["MANIFEST_INVALID"]);
    const img = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
    const mismatch = await put("x/bad", "t", JSON.stringify(img), MediaType.OCI_MANIFEST);
    expect(codes(mismatch.body)).toEqual(["MANIFEST_INVALID"]);
    const badTag = await put("x/bad", "-nope", JSON.stringify(img), MediaType.OCI_INDEX);
    expect(badTag.status).toBe(400);
    const big = await put("x/bad", "t", Buffer.alloc(5 * 1024 * 1024, 0x20));
    expect(big.status).toBe(413);
  });

  it("an index must reference manifests the repository has", async () => {
    const a = await pushImage(addr, "x/multi", "amd64", [randomBytes(20)]);
    const index = (digests: string[]) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: digests.map((d) => ({
          mediaType: MediaType.OCI_MANIFEST,
          digest: d,
          size: 1,
          platform: { architecture: "amd64", os: "linux" },
        })),
      });
    const missing = await put("x/multi", "all", index([a.digest, sha256("nope")]), MediaType.OCI_INDEX);
    expect(missing.status).toBe(400);
    expect(codes(missing.body)).toEqual(["MANIFEST_BLOB_UNKNOWN"]);
    const ok = await put("x/multi", "all", index([a.digest]), MediaType.OCI_INDEX);
    expect(ok.status).toBe(201);
    const get = await request(addr, "GET", "/v2/x/multi/manifests/all");
    expect(get.headers["content-type"]).toBe(MediaType.OCI_INDEX);
    // Manifests are also reachable as blobs of their repository.
    expect((await request(addr, "GET", `/v2/x/multi/blobs/${a.digest}`)).body.equals(a.manifest)).toBe(true);
  });

  it("unknown manifests are 404 MANIFEST_UNKNOWN", async () => {
    for (const ref of ["nope", sha256("nope")]) {
      const res = await request(addr, "GET", `/v2/x/app/manifests/${ref}`);
      expect(res.status).toBe(404);
      expect(codes(res.body)).toEqual(["MANIFEST_UNKNOWN"]);
    }
    expect((await request(addr, "HEAD", "/v2/never/pushed/manifests/latest")).status).toBe(404);
  });

  it("DELETE by digest removes the manifest and its tags; by tag only the tag", async () => {
    const img = await pushImage(addr, "x/del", "one", [randomBytes(30)]);
    await put("x/del", "two", img.manifest);
    expect((await request(addr, "DELETE", "/v2/x/del/manifests/two")).status).toBe(202);
    expect((await request(addr, "GET", "/v2/x/del/manifests/one")).status).toBe(200);
    expect((await request(addr, "DELETE", `/v2/x/del/manifests/${img.digest}`)).status).toBe(202);
    expect((await request(addr, "GET", `/v2/x/del/manifests/${img.digest}`)).status).toBe(404);
    expect((await request(addr, "GET", "/v2/x/del/manifests/one")).status).toBe(404);
    expect((await request(addr, "GET", "/v2/x/del/tags/list")).json()).toEqual({ name: "x/del", tags: [] });
    expect((await request(addr, "DELETE", `/v2/x/del/manifests/${img.digest}`)).status).toBe(404);
  });

  it("concurrent pushes of different images to the same repository both succeed", async () => {
    const pushes = await Promise.all(
      ["a", "b", "c", "d"].map((tag) => pushImage(addr, "x/race", tag, [randomBytes(100_000), randomBytes(1000)])),
    );
    for (const [i, tag] of ["a", "b", "c", "d"].entries()) {
      const got = await request(addr, "GET", `/v2/x/race/manifests/${tag}`);
      expect(got.headers["docker-content-digest"]).toBe(pushes[i].digest);
    }
    expect((await request(addr, "GET", "/v2/x/race/tags/list")).json()).toEqual({
      name: "x/race",
      tags: ["a", "b", "c", "d"],
    });
  });
});

describe("tags and catalog", () => {
  it("lists tags sorted, with n/last pagination and a Link header", async () => {
    const img = await pushImage(addr, "t/list", "b", [randomBytes(10)]);
    for (const tag of ["a", "c", "B", "d", "e"]) await put("t/list", tag, img.manifest);
    const all = await request(addr, "GET", "/v2/t/list/tags/list");
    expect(all.json()).toEqual({ name: "t/list", tags: ["B", "a", "b", "c", "d", "e"] });
    expect(all.headers.link).toBeUndefined();
    const p1 = await request(addr, "GET", "/v2/t/list/tags/list?n=2");
    expect(p1.json()).toEqual({ name: "t/list", tags: ["B", "a"] });
    expect(p1.headers.link).toBe('</v2/t/list/tags/list?n=2&last=a>; rel="next"');
    const next = /<([^>]+)>/.exec(p1.headers.link as string)![1];
    const p2 = await request(addr, "GET", next);
    expect(p2.json()).toEqual({ name: "t/list", tags: ["b", "c"] });
    const p3 = await request(addr, "GET", "/v2/t/list/tags/list?n=2&last=c");
    expect(p3.json()).toEqual({ name: "t/list", tags: ["d", "e"] });
    expect(p3.headers.link).toBeUndefined();
    const zero = await request(addr, "GET", "/v2/t/list/tags/list?n=0");
    expect(zero.json()).toEqual({ name: "t/list", tags: [] });
    expect(zero.headers.link).toBeUndefined();
    expect((await request(addr, "GET", "/v2/t/list/tags/list?last=d")).json()).toEqual({ name: "t/list", tags: ["e"] });
    expect((await request(addr, "GET", "/v2/t/list/tags/list?n=-1")).status).toBe(400);
    const head = await request(addr, "HEAD", "/v2/t/list/tags/list");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it("an unknown repository is 404 NAME_UNKNOWN", async () => {
    const res = await request(addr, "GET", "/v2/no/such/repo/tags/list");
    expect(res.status).toBe(404);
    expect(codes(res.body)).toEqual(["NAME_UNKNOWN"]);
  });

  it("the catalog lists repositories, paginated", async () => {
    const res = await request(addr, "GET", "/v2/_catalog");
    const repos = res.json<{ repositories: string[] }>().repositories;
    expect(repos).toContain("x/app");
    expect(repos).toContain("t/list");
    expect(repos).toEqual([...repos].sort());
    const page = await request(addr, "GET", "/v2/_catalog?n=1");
    expect(page.json()).toEqual({ repositories: [repos[0]] });
    expect(page.headers.link).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(repos[0])}>; rel="next"`);
  });

  it("paginate() follows the spec for n and last", () => {
    const p = new URLSearchParams("n=3&last=b");
    expect(paginate(["a", "b", "c", "d", "e", "f"], p, "/x")).toEqual({
      page: ["c", "d", "e"],
      link: '</x?n=3&last=e>; rel="next"',
    });
    expect(paginate(["a"], new URLSearchParams("n=5"), "/x")).toEqual({ page: ["a"] });
  });
});
