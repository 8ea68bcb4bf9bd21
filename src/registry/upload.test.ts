import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { sha256 } from "../oci/digest";
import { bufferBlob, fileBlob } from "../layer/blob";
import type { Blob } from "../oci/model";
import { startFakeServer, type FakeRequest, type FakeServer } from "../../test/fixtures/registry";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { RegistryClient } from "./client";
import type { ChunkSource } from "./body-chunks";
import { BlobCursor, FALLBACK_CHUNK_SIZE, mountBlob, parseRange, READ_CHUNK, uploadBlob } from "./upload";

const FAST = { retries: 2, baseDelayMs: 1, timeoutMs: 5000 };
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "upload-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});

/** Every chunk of a body, copied (a ChunkSource reuses its buffers); closes a ChunkSource at the end. */
async function chunksOf(r: Readable | ChunkSource): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  if ("pipe" in r) {
    for await (const c of r) chunks.push(c as Buffer);
    return chunks;
  }
  try {
    for (let c = await r.next(); c !== undefined; c = await r.next()) chunks.push(Buffer.from(c));
  } finally {
    r.close();
  }
  return chunks;
}

async function readAll(r: Readable | ChunkSource): Promise<Buffer> {
  return Buffer.concat(await chunksOf(r));
}

/** A blob that yields its bytes in small pieces and counts how often it was opened. */
function piecewise(bytes: Buffer, piece = 1000): Blob & { opens: number } {
  const b = {
    ...bufferBlob(bytes, "application/octet-stream"),
    opens: 0,
    open() {
      b.opens++;
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += piece) parts.push(bytes.subarray(i, i + piece));
      return Readable.from(parts);
    },
  };
  return b;
}

/** A status to answer instead, "half" (half the body arrives, then 500), or "lost" (applied, then the connection drops). */
type Hook = (req: FakeRequest, session: { data: Buffer[]; offset: number }) => number | "half" | "lost" | undefined;

/** A registry implementing upload sessions strictly (Content-Range must match the offset). */
async function uploadRegistry(hook: Hook = () => undefined) {
  const sessions = new Map<string, { data: Buffer[]; offset: number }>();
  const stored = new Map<string, Buffer>();
  let n = 0;
  const s = await startFakeServer((req, res, self) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "POST" && url.pathname.endsWith("/blobs/uploads/")) {
      const mount = url.searchParams.get("mount");
      if (mount && stored.has(mount)) return void res.writeHead(201, { "Docker-Content-Digest": mount }).end();
      const id = String(++n);
      sessions.set(id, { data: [], offset: 0 });
      return void res.writeHead(202, { Location: `/up/${id}?_state=s0`, Range: "0-0" }).end();
    }
    if (req.method === "HEAD" && url.pathname.includes("/blobs/sha256:")) {
      return void res.writeHead(stored.has(url.pathname.split("/").pop()!) ? 200 : 404).end();
    }
    const id = url.pathname.split("/")[2];
    const session = sessions.get(id);
    if (!session)
      return void res
        .writeHead(404, { "Content-Type": "application/json" })
        .end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}');
    const injected = hook(req, session);
    if (injected === "half") {
      session.data.push(req.body.subarray(0, req.body.length >> 1));
      session.offset += req.body.length >> 1;
      return void res.writeHead(500).end();
    }
    if (typeof injected === "number") return void res.writeHead(injected).end();
    // "lost": the request is applied below, but its answer never reaches the client.
    const answer = (status: number, headers: Record<string, string>, body?: string) =>
      injected === "lost" ? void res.socket?.destroy() : void res.writeHead(status, headers).end(body);
    // Alternate absolute and relative Locations.
    const next = (k: number) => (k % 2 ? `${self.url}/up/${id}?_state=s${k}` : `/up/${id}?_state=s${k}`);
    if (req.method === "GET") return answer(204, { Location: next(session.offset), Range: `0-${session.offset - 1}` });
    if (req.method === "PATCH") {
      const start = Number(/^(\d+)-/.exec(String(req.headers["content-range"]))?.[1]);
      if (start !== session.offset)
        return answer(416, { Location: next(session.offset), Range: `0-${session.offset - 1}` });
      session.data.push(req.body);
      session.offset += req.body.length;
      return answer(202, { Location: next(session.offset), Range: `0-${session.offset - 1}` });
    }
    if (req.method === "PUT") {
      session.data.push(req.body);
      const all = Buffer.concat(session.data);
      const digest = url.searchParams.get("digest")!;
      sessions.delete(id);
      if (sha256(all) !== digest)
        return answer(
          400,
          { "Content-Type": "application/json" },
          '{"errors":[{"code":"DIGEST_INVALID","message":"digest did not match"}]}',
        );
      stored.set(digest, all);
      return answer(201, { "Docker-Content-Digest": digest });
    }
    res.writeHead(405).end();
  });
  servers.push(s);
  const client = new RegistryClient(s.host, { keychain: anonymousKeychain, retry: FAST, access: "push" });
  return { server: s, client, stored, sessions };
}

describe("parseRange", () => {
  it("reads the last byte of Range headers", () => {
    expect(parseRange("0-1023")).toBe(1023);
    expect(parseRange("bytes=0-9")).toBe(9);
    expect(parseRange(undefined)).toBeUndefined();
    expect(parseRange("garbage")).toBeUndefined();
  });
});

describe("BlobCursor", () => {
  it("reads consecutive ranges from one open stream and hashes them", async () => {
    const bytes = randomBytes(10_000);
    const blob = piecewise(bytes, 777);
    const c = new BlobCursor(blob);
    const parts = [
      await readAll(c.range(0, 3000)),
      await readAll(c.range(3000, 6000)),
      await readAll(c.range(6000, 10_000)),
    ];
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    expect(blob.opens).toBe(1);
    expect(c.digest()).toBe(blob.digest);
    c.close();
  });

  it("reopens and skips for a range it has passed (a retried chunk)", async () => {
    const bytes = randomBytes(5000);
    const blob = piecewise(bytes, 300);
    const c = new BlobCursor(blob);
    await readAll(c.range(0, 2000));
    expect((await readAll(c.range(1000, 2000))).equals(bytes.subarray(1000, 2000))).toBe(true);
    expect((await readAll(c.range(2000, 5000))).equals(bytes.subarray(2000))).toBe(true);
    expect(blob.opens).toBe(2);
    expect(c.digest()).toBe(blob.digest);
    c.close();
  });

  it("opens files at the offset instead of skipping", async () => {
    const bytes = randomBytes(4000);
    const path = join(tmp, "cursor.bin");
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), bytes.length, "application/octet-stream");
    const c = new BlobCursor(blob);
    expect((await readAll(c.range(1500, 4000))).equals(bytes.subarray(1500))).toBe(true);
    expect(c.digest()).toBeUndefined(); // not read from the start
    c.close();
  });

  it("reads files in READ_CHUNK pieces, not the default 64 KiB", async () => {
    const bytes = randomBytes(2 * READ_CHUNK + 12_345);
    const path = join(tmp, "cursor-big.bin");
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), bytes.length, "application/octet-stream");
    const c = new BlobCursor(blob);
    const chunks = await chunksOf(c.range(0, bytes.length));
    expect(chunks.map((b) => b.length)).toEqual([READ_CHUNK, READ_CHUNK, 12_345]);
    expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    expect(c.digest()).toBe(blob.digest);
    c.close();
  });

  it("a range resumed inside a chunk it has hashed goes on hashing from where the hash stopped", async () => {
    const bytes = randomBytes(2 * READ_CHUNK + 10);
    const path = join(tmp, "cursor-resume.bin");
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), bytes.length, "application/octet-stream");
    const c = new BlobCursor(blob);
    const first = c.range(0, bytes.length);
    if ("pipe" in first) throw new Error("a file blob's range is a ChunkSource");
    expect((await first.next())?.length).toBe(READ_CHUNK); // a request cut after its first chunk
    first.close();
    expect((await readAll(c.range(500_000, bytes.length))).equals(bytes.subarray(500_000))).toBe(true);
    expect(c.digest()).toBe(blob.digest);
    c.close();
  });

  it("errors when the content ends early", async () => {
    const blob = { ...piecewise(randomBytes(100)), size: 200 };
    const c = new BlobCursor(blob);
    await expect(readAll(c.range(0, 200))).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
  });
});

describe("uploadBlob", () => {
  it("uploads small blobs monolithically (POST, PUT ?digest=)", async () => {
    const { server, client, stored } = await uploadRegistry();
    const blob = piecewise(randomBytes(5000));
    const progress: number[] = [];
    await uploadBlob(client, "r", blob, { onProgress: (n) => progress.push(n) });
    expect(stored.get(blob.digest)?.length).toBe(5000);
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "PUT"]);
    expect(server.requests[1].headers["content-type"]).toBe("application/octet-stream");
    expect(server.requests[1].headers["content-length"]).toBe("5000");
    expect(progress.at(-1)).toBe(5000);
  });

  it("uploads big blobs in PATCH chunks with Content-Range, following each Location", async () => {
    const { server, client, stored } = await uploadRegistry();
    const blob = piecewise(randomBytes(10_000), 999);
    await uploadBlob(client, "r", blob, { chunkThreshold: 4000, chunkSize: 3000 });
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    const patches = server.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((p) => p.headers["content-range"])).toEqual(["0-2999", "3000-5999", "6000-8999", "9000-9999"]);
    expect(patches.map((p) => new URL(p.url, "http://x").searchParams.get("_state"))).toEqual([
      "s0",
      "s3000",
      "s6000",
      "s9000",
    ]);
    const put = server.requests.at(-1)!;
    expect(put.method).toBe("PUT");
    expect(put.body.length).toBe(0);
    expect(blob.opens).toBe(1);
  });

  it("by default sends a big blob in one PATCH (Content-Range over the whole blob), then the empty PUT", async () => {
    const { server, client, stored } = await uploadRegistry();
    const size = FALLBACK_CHUNK_SIZE + 4096; // more than a chunk after a 413
    const bytes = randomBytes(size);
    const path = join(tmp, "one-patch.bin");
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), size, "application/octet-stream");
    await uploadBlob(client, "r", blob);
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    expect(server.requests.map((r) => `${r.method} ${r.headers["content-range"] ?? ""}`.trim())).toEqual([
      "POST",
      `PATCH 0-${size - 1}`,
      "PUT",
    ]);
    expect(server.requests.at(-1)!.body.length).toBe(0);
  });

  it("continues a one-PATCH upload that half-arrived from the registry's offset, the rest again in one PATCH", async () => {
    let failed = false;
    const { server, client, stored } = await uploadRegistry((req) => {
      if (req.method !== "PATCH" || failed) return undefined;
      failed = true;
      return "half";
    });
    const blob = piecewise(randomBytes(10_000), 700);
    await uploadBlob(client, "r", blob, { chunkThreshold: 1 });
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    const trail = server.requests.map((r) => `${r.method} ${r.headers["content-range"] ?? ""}`.trim());
    expect(trail).toEqual(["POST", "PATCH 0-9999", "PATCH 0-9999", "GET", "PATCH 5000-9999", "PUT"]);
  });

  it("a registry that refuses the whole blob in one request (413) gets it in a new session, in 16 MiB chunks", async () => {
    const { server, client, stored, sessions } = await uploadRegistry((req) =>
      req.method === "PATCH" && Number(req.headers["content-length"]) > FALLBACK_CHUNK_SIZE ? 413 : undefined,
    );
    const size = FALLBACK_CHUNK_SIZE + 4096;
    const path = join(tmp, "over-16-mib.bin");
    const bytes = randomBytes(size);
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), size, "application/octet-stream");
    await uploadBlob(client, "r", blob);
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    const trail = server.requests.map((r) => `${r.method} ${r.headers["content-range"] ?? ""}`.trim());
    expect(trail).toEqual([
      "POST",
      `PATCH 0-${size - 1}`,
      "POST",
      `PATCH 0-${FALLBACK_CHUNK_SIZE - 1}`,
      `PATCH ${FALLBACK_CHUNK_SIZE}-${size - 1}`,
      "PUT",
    ]);
    expect(sessions.size).toBe(1); // the refused session, abandoned
  });

  it("recovers when a chunk half-arrives: retry → 416 → status GET → resume mid-chunk", async () => {
    let failed = false;
    const { server, client, stored } = await uploadRegistry((req) => {
      if (req.method === "PATCH" && req.headers["content-range"] === "3000-5999" && !failed) {
        failed = true;
        return "half";
      }
      return undefined;
    });
    const blob = piecewise(randomBytes(10_000), 700);
    await uploadBlob(client, "r", blob, { chunkThreshold: 1, chunkSize: 3000 });
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    const trail = server.requests.map((r) => `${r.method} ${r.headers["content-range"] ?? ""}`.trim());
    expect(trail).toEqual([
      "POST",
      "PATCH 0-2999",
      "PATCH 3000-5999",
      "PATCH 3000-5999",
      "GET",
      "PATCH 4500-7499",
      "PATCH 7500-9999",
      "PUT",
    ]);
    expect(blob.opens).toBe(3); // first pass, the retried chunk, the resume at 4500
  });

  it("starts a new session when the registry says DIGEST_INVALID", async () => {
    let corrupted = false;
    const { server, client, stored } = await uploadRegistry((req, session) => {
      if (req.method === "PUT" && !corrupted) {
        corrupted = true;
        session.data.push(Buffer.from("junk")); // the session went bad: the close answers DIGEST_INVALID
      }
      return undefined;
    });
    const blob = piecewise(randomBytes(3000));
    await uploadBlob(client, "r", blob);
    expect(stored.has(blob.digest)).toBe(true);
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "PUT", "HEAD", "POST", "PUT"]);
  });

  it("a closing PUT whose answer was lost: its retry finds no session, a HEAD finds the blob, no new session", async () => {
    let lost = false;
    const { server, client, stored } = await uploadRegistry((req) => {
      if (req.method !== "PUT" || lost) return undefined;
      lost = true;
      return "lost";
    });
    const blob = piecewise(randomBytes(3000));
    await uploadBlob(client, "r", blob);
    expect(stored.has(blob.digest)).toBe(true);
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "PUT", "PUT", "HEAD"]);
  });

  it("a chunk whose answer was lost kills the session (its retry is refused): a new session uploads the blob", async () => {
    // As distribution does: a request naming a stale offset cancels the session (404 BLOB_UPLOAD_INVALID).
    let lost = false;
    const { server, client, stored } = await uploadRegistry((req, session) => {
      if (req.method === "PATCH" && session.offset > 0 && !lost) {
        lost = true;
        return "lost";
      }
      if (
        lost &&
        req.method === "PATCH" &&
        new URL(req.url, "http://x").searchParams.get("_state") !== `s${session.offset}`
      )
        return 404;
      return undefined;
    });
    const blob = piecewise(randomBytes(9000));
    await uploadBlob(client, "r", blob, { chunkThreshold: 1, chunkSize: 3000 });
    expect(sha256(stored.get(blob.digest)!)).toBe(blob.digest);
    const trail = server.requests.map((r) => `${r.method} ${r.headers["content-range"] ?? ""}`.trim());
    expect(trail).toEqual([
      "POST",
      "PATCH 0-2999",
      "PATCH 3000-5999",
      "PATCH 3000-5999",
      "HEAD",
      "POST",
      "PATCH 0-2999",
      "PATCH 3000-5999",
      "PATCH 6000-8999",
      "PUT",
    ]);
  });

  it("restarts a refused session up to once per transport retry, then gives up with the registry's answer", async () => {
    // FAST allows 2 retries: 3 sessions in all.
    const refusing = (times: number) => {
      let refused = 0;
      return (req: FakeRequest) => (req.method === "PUT" && refused++ < times ? 404 : undefined);
    };
    const ok = await uploadRegistry(refusing(2));
    const blob = piecewise(randomBytes(2000));
    await uploadBlob(ok.client, "r", blob);
    expect(ok.stored.has(blob.digest)).toBe(true);
    expect(ok.server.requests.filter((r) => r.method === "POST")).toHaveLength(3);

    const bad = await uploadRegistry(refusing(3));
    await expect(uploadBlob(bad.client, "r", blob)).rejects.toMatchObject({ code: "E_NOT_FOUND" });
    expect(bad.server.requests.map((r) => r.method)).toEqual([
      "POST",
      "PUT",
      "HEAD",
      "POST",
      "PUT",
      "HEAD",
      "POST",
      "PUT",
      "HEAD",
    ]);
  });

  it("does not restart for other 4xx answers", async () => {
    const { server, client } = await uploadRegistry((req) => (req.method === "PUT" ? 400 : undefined));
    await expect(uploadBlob(client, "r", piecewise(randomBytes(3000)))).rejects.toMatchObject({ code: "E_REGISTRY" });
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "PUT"]);
  });

  it("refuses to send content that does not match its digest", async () => {
    const { client } = await uploadRegistry();
    const good = randomBytes(2000);
    const liar: Blob = { ...bufferBlob(good, "x"), open: () => Readable.from([randomBytes(2000)]) };
    await expect(uploadBlob(client, "r", liar)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
    await expect(uploadBlob(client, "r", liar, { chunkThreshold: 1, chunkSize: 700 })).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    const longer: Blob = { ...bufferBlob(good, "x"), open: () => Readable.from([good, Buffer.from("extra")]) };
    await expect(uploadBlob(client, "r", longer)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
  });

  it("never lets a registry that does not check digests receive the whole of wrong content", async () => {
    const { server, client } = await uploadRegistry((req) => (req.method === "PUT" ? 201 : undefined)); // trusts anything
    const good = randomBytes(50_000);
    const liar: Blob = {
      ...bufferBlob(good, "x"),
      open: () => Readable.from([randomBytes(25_000), randomBytes(25_000)]),
    };
    await expect(uploadBlob(client, "r", liar)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
    await new Promise((r) => setTimeout(r, 50));
    expect(server.requests.filter((q) => q.method === "PUT")).toEqual([]);
  });

  it("a file blob with one wrong byte fails E_DIGEST_MISMATCH: never PUT whole by the monolithic upload, never closed by the chunked one", async () => {
    const good = randomBytes(3 * READ_CHUNK + 100);
    for (const at of [10, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] ^= 1;
      const path = join(tmp, `wrong-byte-${at}.bin`);
      writeFileSync(path, bad);
      const blob = fileBlob(path, sha256(good), good.length, "application/octet-stream");
      const trusting = await uploadRegistry((req) => (req.method === "PUT" ? 201 : undefined)); // checks no digest
      await expect(uploadBlob(trusting.client, "r", blob)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
      await new Promise((r) => setTimeout(r, 50));
      expect(trusting.server.requests.filter((q) => q.method === "PUT")).toEqual([]);
      const chunked = await uploadRegistry();
      const err = await uploadBlob(chunked.client, "r", blob, { chunkThreshold: 1 }).catch((e) => e);
      expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH", message: expect.stringContaining("the local content") });
      expect(chunked.server.requests.map((q) => q.method)).toEqual(["POST", "PATCH"]);
      expect(chunked.stored.size).toBe(0);
    }
  });

  it("a file blob whose file is longer than its descriptor says fails before a byte is sent", async () => {
    const good = randomBytes(5000);
    const path = join(tmp, "longer.bin");
    writeFileSync(path, Buffer.concat([good, Buffer.from("extra")]));
    const blob = fileBlob(path, sha256(good), good.length, "application/octet-stream");
    for (const opts of [{}, { chunkThreshold: 1 }]) {
      const { server, client } = await uploadRegistry((req) => (req.method === "PUT" ? 201 : undefined)); // checks no digest
      await expect(uploadBlob(client, "r", blob, opts)).rejects.toMatchObject({
        code: "E_DIGEST_MISMATCH",
        message: expect.stringContaining("5005 bytes"),
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(server.requests.map((q) => q.method)).toEqual(["POST"]);
    }
  });

  it("uploads a file blob from its file, monolithic and chunked, resuming a half-arrived PATCH mid-file", async () => {
    const bytes = randomBytes(2 * READ_CHUNK + 4321);
    const path = join(tmp, "upload-file.bin");
    writeFileSync(path, bytes);
    const blob = fileBlob(path, sha256(bytes), bytes.length, "application/octet-stream");
    const plain = await uploadRegistry();
    await uploadBlob(plain.client, "r", blob);
    expect(plain.stored.get(blob.digest)?.equals(bytes)).toBe(true);
    let halves = 0;
    const flaky = await uploadRegistry((req) => (req.method === "PATCH" && halves++ === 0 ? "half" : undefined));
    await uploadBlob(flaky.client, "r", blob, { chunkThreshold: 1 });
    expect(flaky.stored.get(blob.digest)?.equals(bytes)).toBe(true);
    expect(flaky.server.requests.map((q) => q.method)).toEqual(["POST", "PATCH", "PATCH", "GET", "PATCH", "PUT"]);
    // Resumed mid-chunk, the local content is still hashed whole: a wrong byte fails before the closing PUT.
    const bad = Buffer.from(bytes);
    bad[bad.length - 5] ^= 1;
    writeFileSync(path, bad);
    halves = 0;
    const again = await uploadRegistry((req) => (req.method === "PATCH" && halves++ === 0 ? "half" : undefined));
    const err = await uploadBlob(again.client, "r", blob, { chunkThreshold: 1 }).catch((e) => e);
    expect(err).toMatchObject({ code: "E_DIGEST_MISMATCH", message: expect.stringContaining("the local content") });
    expect(again.server.requests.map((q) => q.method)).not.toContain("PUT");
  });

  it("uploads an empty blob", async () => {
    const { client, stored } = await uploadRegistry();
    const blob = bufferBlob(Buffer.alloc(0), "application/vnd.oci.empty.v1+json");
    await uploadBlob(client, "r", blob);
    expect(stored.get(blob.digest)?.length).toBe(0);
  });
});

describe("mountBlob", () => {
  it("201 means mounted; 202 gives a session that the upload then uses", async () => {
    const { server, client, stored } = await uploadRegistry();
    const blob = piecewise(randomBytes(100));
    const miss = await mountBlob(client, "r", blob.digest, "other/repo");
    expect(miss.mounted).toBe(false);
    if (miss.mounted) throw new Error("unreachable");
    await uploadBlob(client, "r", blob, { session: miss.session });
    expect(server.requests.map((r) => r.method)).toEqual(["POST", "PUT"]);
    expect(server.requests[0].url).toBe(
      `/v2/r/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=other%2Frepo`,
    );
    expect(stored.has(blob.digest)).toBe(true);
    expect(await mountBlob(client, "r2", blob.digest, "r")).toEqual({ mounted: true });
  });
});
