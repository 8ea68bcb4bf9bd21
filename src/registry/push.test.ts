import { afterEach, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { startFakeServer, type FakeServer } from "../../test/fixtures/registry";
import { randomImage } from "../../test/fixtures/random-image";
import { forEachLimited } from "../concurrency";
import { composeImage } from "../image/compose";
import type { Image, Layer } from "../oci/model";
import { composeIndex } from "../image/image-index";
import { pushIndex } from "./push-index";
import { pushImage } from "./push";
import type { ProgressSink } from "./progress";

const opts = { keychain: anonymousKeychain, retry: { retries: 0, baseDelayMs: 1 } };
let servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

/**
 * Push-only fake: blobs in `present` exist; uploads are delayed to observe concurrency. With `holdUntil`, an upload
 * first waits (at most 5 s) until that many are in flight, so a busy machine cannot hide a pusher's parallelism.
 */
async function fake(opts: { present?: string[]; failBlob?: string; delayMs?: number; holdUntil?: number } = {}) {
  const present = new Set(opts.present ?? []);
  let inflight = 0;
  const state = { maxInflight: 0 };
  let n = 0;
  const s = await startFakeServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "HEAD") {
      const last = url.pathname.split("/").pop()!;
      const manifest =
        present.has(last) && url.pathname.includes("/manifests/") ? { "Docker-Content-Digest": last } : {};
      return void res.writeHead(present.has(last) ? 200 : 404, manifest).end();
    }
    if (req.method === "POST") return void res.writeHead(202, { Location: `/up/${++n}` }).end();
    if (req.method === "PUT" && url.pathname.startsWith("/up/")) {
      const digest = url.searchParams.get("digest")!;
      inflight++;
      state.maxInflight = Math.max(state.maxInflight, inflight);
      for (
        const until = Date.now() + 5000;
        opts.holdUntil && inflight < opts.holdUntil && state.maxInflight < opts.holdUntil && Date.now() < until;
      ) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
      inflight--;
      if (digest === opts.failBlob)
        return void res
          .writeHead(400, { "Content-Type": "application/json" })
          .end('{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"nope"}]}');
      present.add(digest);
      return void res.writeHead(201, { "Docker-Content-Digest": digest }).end();
    }
    if (req.method === "PUT") return void res.writeHead(201, { "Docker-Content-Digest": sha256(req.body) }).end();
    res.writeHead(404).end();
  });
  servers.push(s);
  return Object.assign(s, { state });
}

describe("pushImage", () => {
  it("uploads missing blobs, skips present ones, then PUTs the manifest by digest and each tag", async () => {
    const image = randomImage({ layers: 3 });
    const s = await fake({ present: [image.layers[1].digest] });
    const events: string[] = [];
    const progress: ProgressSink = {
      blobStart: (d, _s, label) => events.push(`start ${label} ${d}`),
      blobProgress: () => undefined,
      blobDone: (d, how) => events.push(`${how} ${d}`),
      skip: (d) => events.push(`skip ${d}`),
    };
    const r = await pushImage(
      image,
      { registry: s.host, repository: "team/app", tags: ["v1", "latest"] },
      { ...opts, progress },
    );
    expect(r.digest).toBe(image.digest);
    expect(r.reference).toBe(`${s.host}/team/app@${image.digest}`);
    expect(r.skipped).toEqual([image.layers[1].digest]);
    expect(r.uploaded.map((u) => u.digest).sort()).toEqual(
      [image.layers[0].digest, image.layers[2].digest, image.configBlob.digest].sort(),
    );
    expect(r.uploaded.find((u) => u.digest === image.layers[0].digest)?.size).toBe(image.layers[0].size);
    // First the manifest checks (the tags, then the digest: none there), then the blobs, then the PUTs.
    const manifestHeads = s.requests.filter((q) => q.method === "HEAD" && q.url.includes("/manifests/"));
    expect(manifestHeads.map((q) => q.url).sort()).toEqual(
      [`/v2/team/app/manifests/${image.digest}`, "/v2/team/app/manifests/latest", "/v2/team/app/manifests/v1"].sort(),
    );
    expect(s.requests.slice(0, 3).every((q) => q.method === "HEAD" && q.url.includes("/manifests/"))).toBe(true);
    const manifestPuts = s.requests.filter((q) => q.method === "PUT" && q.url.includes("/manifests/"));
    expect(manifestPuts.map((q) => q.url)).toEqual([
      `/v2/team/app/manifests/${image.digest}`,
      "/v2/team/app/manifests/v1",
      "/v2/team/app/manifests/latest",
    ]);
    expect(
      manifestPuts.every((q) => q.body.equals(image.manifestBytes) && q.headers["content-type"] === image.mediaType),
    ).toBe(true);
    // Every blob request came before the first manifest PUT.
    const firstManifest = s.requests.findIndex((q) => q.method === "PUT" && q.url.includes("/manifests/"));
    expect(s.requests.slice(firstManifest).every((q) => q.url.includes("/manifests/"))).toBe(true);
    expect(events).toContain(`skip ${image.layers[1].digest}`);
    expect(events).toContain(`start layer 1/3 ${image.layers[0].digest}`);
    expect(events).toContain(`uploaded ${image.configBlob.digest}`);
  });

  it("uploads at most `concurrency` blobs at once", async () => {
    const image = randomImage({ layers: 6 });
    const s = await fake({ delayMs: 30, holdUntil: 2 });
    await pushImage(image, { registry: s.host, repository: "r" }, { ...opts, concurrency: 2 });
    expect(s.state.maxInflight).toBe(2);
    const s4 = await fake({ delayMs: 30, holdUntil: 4 });
    await pushImage(image, { registry: s4.host, repository: "r" }, opts);
    expect(s4.state.maxInflight).toBe(4); // the default, as crane's
  });

  it("never PUTs the manifest when a blob fails", async () => {
    const image = randomImage({ layers: 3 });
    const s = await fake({ failBlob: image.layers[2].digest });
    const err = await pushImage(image, { registry: s.host, repository: "r", tags: ["t"] }, opts).catch((e) => e);
    expect(err.code).toBe("E_REGISTRY");
    expect(err.message).toContain("BLOB_UPLOAD_INVALID");
    expect(s.requests.filter((q) => q.method !== "HEAD" && q.url.includes("/manifests/"))).toEqual([]);
  });

  it("a registry that has the manifest: no blob requests; a tag naming it already is a one-request push", async () => {
    const image = randomImage({ layers: 3 });
    const tags = new Map<string, string>([["old", sha256("another manifest")]]);
    let stored: string | undefined;
    const s = await startFakeServer((req, res) => {
      const m = /\/manifests\/(.+)$/.exec(new URL(req.url, "http://x").pathname);
      if (req.method === "HEAD" && m) {
        const digest = m[1].startsWith("sha256:") ? (m[1] === stored ? stored : undefined) : tags.get(m[1]);
        return void res.writeHead(digest ? 200 : 404, digest ? { "Docker-Content-Digest": digest } : {}).end();
      }
      if (req.method === "PUT" && m) {
        if (!m[1].startsWith("sha256:")) tags.set(m[1], sha256(req.body));
        return void res.writeHead(201, { "Docker-Content-Digest": sha256(req.body) }).end();
      }
      res.writeHead(500).end(); // no blob request may come
    });
    servers.push(s);
    const skips: string[] = [];
    const progress: ProgressSink = {
      blobStart: () => undefined,
      blobProgress: () => undefined,
      blobDone: () => undefined,
      skip: (d) => skips.push(d),
    };
    const all = [...image.layers.map((l) => l.digest), image.configBlob.digest].sort();

    stored = image.digest; // pushed before, by digest only
    let r = await pushImage(image, { registry: s.host, repository: "r", tags: ["new", "old"] }, { ...opts, progress });
    expect([...r.skipped].sort()).toEqual(all);
    expect([...skips].sort()).toEqual(all);
    expect(r.uploaded).toEqual([]);
    expect(s.requests.filter((q) => q.url.includes("/blobs/"))).toEqual([]);
    expect(
      s.requests
        .filter((q) => q.method === "PUT")
        .map((q) => q.url)
        .sort(),
    ).toEqual(["/v2/r/manifests/new", "/v2/r/manifests/old"]);
    expect(tags.get("old")).toBe(image.digest);

    s.requests.length = 0;
    r = await pushImage(image, { registry: s.host, repository: "r", tags: ["new"] }, opts);
    expect(r.digest).toBe(image.digest);
    expect(s.requests.map((q) => `${q.method} ${q.url}`)).toEqual(["HEAD /v2/r/manifests/new"]);
  });

  it("a HEAD without Docker-Content-Digest, or refused, proves nothing: the full push runs", async () => {
    const image = randomImage({ layers: 1 });
    for (const status of [200, 403]) {
      const s = await startFakeServer((req, res) => {
        const url = new URL(req.url, "http://x");
        if (req.method === "HEAD" && url.pathname.includes("/manifests/")) return void res.writeHead(status).end();
        if (req.method === "HEAD") return void res.writeHead(200).end(); // every blob is there
        if (req.method === "PUT") return void res.writeHead(201, { "Docker-Content-Digest": sha256(req.body) }).end();
        res.writeHead(500).end();
      });
      servers.push(s);
      const r = await pushImage(image, { registry: s.host, repository: "r", tags: ["t"] }, opts);
      expect(r.skipped).toHaveLength(2);
      expect(s.requests.filter((q) => q.method === "HEAD" && q.url.includes("/blobs/"))).toHaveLength(2);
      expect(s.requests.filter((q) => q.method === "PUT").map((q) => q.url)).toEqual([
        `/v2/r/manifests/${image.digest}`,
        "/v2/r/manifests/t",
      ]);
    }
  });

  it("retries a manifest PUT answered MANIFEST_BLOB_UNKNOWN (a concurrent push of the same blob), as often as the transport retries", async () => {
    const unknown = '{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}';
    const registry = async (refusals: number) => {
      let refused = 0;
      const s = await startFakeServer((req, res) => {
        if (req.method === "HEAD") return void res.writeHead(200).end(); // every blob is there
        if (req.method === "PUT" && refused++ < refusals)
          return void res.writeHead(400, { "Content-Type": "application/json" }).end(unknown);
        res.writeHead(201, { "Docker-Content-Digest": sha256(req.body) }).end();
      });
      servers.push(s);
      return s;
    };
    const image = randomImage({ layers: 1 });
    const retry = { retries: 2, baseDelayMs: 1 };
    const ok = await registry(2);
    const r = await pushImage(image, { registry: ok.host, repository: "r", tags: ["t"] }, { ...opts, retry });
    expect(r.digest).toBe(image.digest);
    expect(ok.requests.filter((q) => q.method === "PUT").map((q) => q.url)).toEqual([
      `/v2/r/manifests/${image.digest}`,
      `/v2/r/manifests/${image.digest}`,
      `/v2/r/manifests/${image.digest}`,
      "/v2/r/manifests/t",
    ]);

    const bad = await registry(3);
    const err = await pushImage(image, { registry: bad.host, repository: "r", tags: ["t"] }, { ...opts, retry }).catch(
      (e) => e,
    );
    expect(err.code).toBe("E_REGISTRY");
    expect(err.message).toContain("MANIFEST_BLOB_UNKNOWN");
    expect(bad.requests.filter((q) => q.method === "PUT")).toHaveLength(3);
    expect(bad.requests.some((q) => q.method === "PUT" && q.url.endsWith("/manifests/t"))).toBe(false);
  });

  it("refuses an image whose digest does not match its manifest bytes, and bad targets", async () => {
    const image = randomImage({ layers: 1 });
    await expect(
      pushImage({ ...image, digest: sha256("other") }, { registry: "localhost:1", repository: "r" }, opts),
    ).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    await expect(pushImage(image, { registry: "localhost:1", repository: "R/Upper" }, opts)).rejects.toMatchObject({
      code: "E_BAD_REFERENCE",
    });
    await expect(
      pushImage(image, { registry: "localhost:1", repository: "r", tags: ["bad tag"] }, opts),
    ).rejects.toMatchObject({
      code: "E_BAD_REFERENCE",
    });
  });
});

/** One layer of `size` random bytes. */
function layerOf(size: number): Layer {
  return randomImage({ layers: 1, layerSize: size }).layers[0];
}

/** An image of these layers for a platform (its own config and manifest). */
function imageOf(layers: Layer[], architecture = "amd64", variant?: string): Image {
  return composeImage({
    layers: layers.map((layer, i) => ({ layer, createdBy: `layer ${i}` })),
    os: "linux",
    architecture,
    variant,
  });
}

/** The blob digests the fake's uploads completed, in order. */
function uploadOrder(s: FakeServer): string[] {
  return s.requests
    .filter((q) => q.method === "PUT" && q.url.startsWith("/up/"))
    .map((q) => new URL(q.url, "http://x").searchParams.get("digest")!);
}

describe("blob order", () => {
  it("the largest blobs go up first, so no big upload waits behind small ones", async () => {
    const layers = [layerOf(1_000), layerOf(60_000), layerOf(20_000)];
    const image = imageOf(layers);
    const s = await fake();
    await pushImage(image, { registry: s.host, repository: "r" }, { ...opts, concurrency: 1 });
    expect(uploadOrder(s)).toEqual([layers[1].digest, layers[2].digest, layers[0].digest, image.configBlob.digest]);
  });
});

describe("pushIndex", () => {
  // amd64: one own layer and a shared one; arm64: two own layers and the shared one.
  const shared = layerOf(30_000);
  const amd64 = imageOf([layerOf(10_000), shared]);
  const arm64 = imageOf([layerOf(50_000), shared, layerOf(5_000)], "arm64", "v8");
  const idx = composeIndex([amd64, arm64]);
  const blobs = (image: Image) => [...image.layers.map((l) => l.digest), image.configBlob.digest];
  const distinct = [...new Set([...blobs(amd64), ...blobs(arm64)])];

  it("every platform's blobs in one pool: the platforms' uploads overlap, each distinct blob goes up once, largest first", async () => {
    const s = await fake({ delayMs: 20, holdUntil: 4 });
    const r = await pushIndex(idx, { registry: s.host, repository: "r", tags: ["v1"] }, opts);
    // Pushed one platform after the other, at most 3 blobs (arm64's own two layers and config) were ever in flight.
    expect(s.state.maxInflight).toBe(4);
    expect(uploadOrder(s).sort()).toEqual([...distinct].sort());
    expect(r.uploaded.map((u) => u.digest).sort()).toEqual([...distinct].sort());
    expect(r.manifests).toEqual([
      { platform: "linux/amd64", digest: amd64.digest, reference: `${s.host}/r@${amd64.digest}` },
      { platform: "linux/arm64/v8", digest: arm64.digest, reference: `${s.host}/r@${arm64.digest}` },
    ]);
    // Blobs, then the platforms' manifests by digest, then the index by digest, then the tag.
    const puts = s.requests.filter((q) => q.method === "PUT").map((q) => q.url);
    const manifests = puts.filter((u) => u.includes("/manifests/"));
    expect(puts.slice(0, distinct.length).every((u) => u.startsWith("/up/"))).toBe(true);
    expect(manifests.slice(0, 2).sort()).toEqual(
      [`/v2/r/manifests/${amd64.digest}`, `/v2/r/manifests/${arm64.digest}`].sort(),
    );
    expect(manifests.slice(2)).toEqual([`/v2/r/manifests/${idx.digest}`, "/v2/r/manifests/v1"]);
  });

  it("a platform the repository has already: its manifest is asked once, none of its own blobs is checked or sent", async () => {
    const s = await fake({ present: [amd64.digest, ...blobs(amd64)] });
    const r = await pushIndex(idx, { registry: s.host, repository: "r" }, opts);
    expect(uploadOrder(s).sort()).toEqual(
      [arm64.layers[0].digest, arm64.layers[2].digest, arm64.configBlob.digest].sort(),
    );
    const asked = s.requests.filter((q) => q.method === "HEAD").map((q) => q.url.split("/").pop());
    expect(asked).not.toContain(amd64.layers[0].digest);
    expect(asked).not.toContain(amd64.configBlob.digest);
    expect(asked).toContain(shared.digest); // arm64 names it too: checked once, found
    expect(asked.filter((d) => d === shared.digest)).toHaveLength(1);
    expect([...r.skipped].sort()).toEqual([amd64.layers[0].digest, amd64.configBlob.digest, shared.digest].sort());
    expect(s.requests.filter((q) => q.method === "PUT" && q.url.includes("/manifests/")).map((q) => q.url)).toEqual([
      `/v2/r/manifests/${arm64.digest}`,
      `/v2/r/manifests/${idx.digest}`,
    ]);
  });
});

describe("forEachLimited", () => {
  it("runs everything with bounded parallelism and rethrows the first failure after in-flight work settles", async () => {
    let active = 0;
    let max = 0;
    const done: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5], 2, async (i) => {
      active++;
      max = Math.max(max, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      done.push(i);
    });
    expect(max).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
    const started: number[] = [];
    await expect(
      forEachLimited([1, 2, 3, 4, 5], 1, async (i) => {
        started.push(i);
        if (i === 2) throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(started).toEqual([1, 2]);
  });
});
