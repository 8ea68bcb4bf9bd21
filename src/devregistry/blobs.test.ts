import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { pushBlob, request, type TempRegistry, tempRegistry } from "./testing";

let reg: TempRegistry;
let addr: string;
beforeAll(async () => {
  reg = await tempRegistry();
  addr = reg.address;
});
afterAll(async () => reg.cleanup());

const errorCode = (body: Buffer): string =>
  (JSON.parse(body.toString()) as { errors: { code: string }[] }).errors[0].code;

async function startSession(repo: string): Promise<string> {
  const res = await request(addr, "POST", `/v2/${repo}/blobs/uploads/`);
  expect(res.status).toBe(202);
  return res.headers.location as string;
}

describe("blob fetch", () => {
  it("HEAD and GET answer size, digest and the bytes", async () => {
    const bytes = randomBytes(5000);
    const digest = await pushBlob(addr, "b/fetch", bytes);
    const head = await request(addr, "HEAD", `/v2/b/fetch/blobs/${digest}`);
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("5000");
    expect(head.headers["docker-content-digest"]).toBe(digest);
    expect(head.body.length).toBe(0);
    const get = await request(addr, "GET", `/v2/b/fetch/blobs/${digest}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
    expect(get.headers["docker-content-digest"]).toBe(digest);
  });

  it("serves a byte range", async () => {
    const bytes = randomBytes(100);
    const digest = await pushBlob(addr, "b/fetch", bytes);
    const res = await request(addr, "GET", `/v2/b/fetch/blobs/${digest}`, { headers: { Range: "bytes=10-19" } });
    expect(res.status).toBe(206);
    expect(res.headers["content-range"]).toBe("bytes 10-19/100");
    expect(res.body.equals(bytes.subarray(10, 20))).toBe(true);
    const bad = await request(addr, "GET", `/v2/b/fetch/blobs/${digest}`, { headers: { Range: "bytes=200-" } });
    expect(bad.status).toBe(416);
  });

  it("answers 404 BLOB_UNKNOWN with the spec's error body", async () => {
    const res = await request(addr, "GET", `/v2/b/fetch/blobs/${sha256("nothing")}`);
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toBe("application/json");
    const body = res.json<{ errors: { code: string; message: string; detail: unknown }[] }>();
    expect(body.errors[0].code).toBe("BLOB_UNKNOWN");
    expect(body.errors[0].message).toMatch(/unknown/);
    expect(body.errors[0].detail).toEqual({ digest: sha256("nothing") });
    const head = await request(addr, "HEAD", `/v2/b/fetch/blobs/${sha256("nothing")}`);
    expect(head.status).toBe(404);
  });

  it("rejects a malformed digest with DIGEST_INVALID", async () => {
    const res = await request(addr, "GET", "/v2/b/fetch/blobs/sha256:abc");
    expect(res.status).toBe(400);
    expect(errorCode(res.body)).toBe("DIGEST_INVALID");
  });

  it("deletes a blob from one repository only", async () => {
    const bytes = randomBytes(64);
    const digest = await pushBlob(addr, "b/del1", bytes);
    await pushBlob(addr, "b/del2", bytes);
    expect((await request(addr, "DELETE", `/v2/b/del1/blobs/${digest}`)).status).toBe(202);
    expect((await request(addr, "HEAD", `/v2/b/del1/blobs/${digest}`)).status).toBe(404);
    expect((await request(addr, "HEAD", `/v2/b/del2/blobs/${digest}`)).status).toBe(200);
    expect((await request(addr, "DELETE", `/v2/b/del1/blobs/${digest}`)).status).toBe(404);
  });
});

describe("uploads", () => {
  it("POST opens a session: 202 with Location, Docker-Upload-UUID and Range", async () => {
    const res = await request(addr, "POST", "/v2/b/up/blobs/uploads/");
    expect(res.status).toBe(202);
    const uuid = res.headers["docker-upload-uuid"] as string;
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.location).toBe(`/v2/b/up/blobs/uploads/${uuid}`);
    expect(res.headers.range).toBe("0-0");
  });

  it("monolithic POST ?digest= stores the blob (201)", async () => {
    const bytes = randomBytes(1000);
    const res = await request(addr, "POST", `/v2/b/up/blobs/uploads/?digest=${sha256(bytes)}`, { body: bytes });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/v2/b/up/blobs/${sha256(bytes)}`);
    expect(res.headers["docker-content-digest"]).toBe(sha256(bytes));
    expect((await request(addr, "GET", `/v2/b/up/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
  });

  it("monolithic POST with the wrong digest: 400 DIGEST_INVALID, nothing stored", async () => {
    const bytes = randomBytes(1000);
    const wrong = sha256("other");
    const res = await request(addr, "POST", `/v2/b/up/blobs/uploads/?digest=${wrong}`, { body: bytes });
    expect(res.status).toBe(400);
    expect(errorCode(res.body)).toBe("DIGEST_INVALID");
    expect((await request(addr, "HEAD", `/v2/b/up/blobs/${wrong}`)).status).toBe(404);
    expect((await request(addr, "HEAD", `/v2/b/up/blobs/${sha256(bytes)}`)).status).toBe(404);
  });

  it("POST then PUT with the whole body", async () => {
    const bytes = randomBytes(3000);
    const loc = await startSession("b/up");
    const res = await request(addr, "PUT", `${loc}?digest=${sha256(bytes)}`, { body: bytes });
    expect(res.status).toBe(201);
    expect(res.headers["docker-content-digest"]).toBe(sha256(bytes));
    expect((await request(addr, "GET", res.headers.location as string)).body.equals(bytes)).toBe(true);
  });

  it("chunked: PATCH with Content-Range, streamed PATCH without, final chunk in PUT; status via GET", async () => {
    const bytes = randomBytes(300_000);
    const [a, b, c] = [bytes.subarray(0, 100_000), bytes.subarray(100_000, 250_000), bytes.subarray(250_000)];
    let loc = await startSession("b/chunks");
    let res = await request(addr, "PATCH", loc, {
      body: a,
      headers: { "Content-Range": "0-99999", "Content-Type": "application/octet-stream" },
    });
    expect(res.status).toBe(202);
    expect(res.headers.range).toBe("0-99999");
    loc = res.headers.location as string;
    const stream = new PassThrough();
    const pending = request(addr, "PATCH", loc, { body: stream }); // chunked transfer encoding, no Content-Range
    stream.write(b.subarray(0, 70_000));
    setTimeout(() => stream.end(b.subarray(70_000)), 20);
    res = await pending;
    expect(res.status).toBe(202);
    expect(res.headers.range).toBe("0-249999");
    const status = await request(addr, "GET", loc);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe("0-249999");
    expect(status.headers["docker-upload-uuid"]).toBeTruthy();
    res = await request(addr, "PUT", `${loc}?digest=${sha256(bytes)}`, {
      body: c,
      headers: { "Content-Range": "250000-299999" },
    });
    expect(res.status).toBe(201);
    expect((await request(addr, "GET", `/v2/b/chunks/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
    expect((await request(addr, "GET", loc)).status).toBe(404); // session closed
  });

  it("416 on a Content-Range that does not continue the upload; the upload is unchanged", async () => {
    const bytes = randomBytes(200);
    const loc = await startSession("b/range");
    await request(addr, "PATCH", loc, { body: bytes.subarray(0, 100), headers: { "Content-Range": "0-99" } });
    let res = await request(addr, "PATCH", loc, { body: bytes.subarray(100), headers: { "Content-Range": "50-149" } });
    expect(res.status).toBe(416);
    expect(res.headers.range).toBe("0-99");
    expect(errorCode(res.body)).toBe("BLOB_UPLOAD_INVALID");
    res = await request(addr, "PATCH", loc, { body: bytes.subarray(100), headers: { "Content-Range": "100-150" } }); // 51 != 100 bytes
    expect(res.status).toBe(416);
    res = await request(addr, "PATCH", loc, { body: bytes.subarray(100), headers: { "Content-Range": "banana" } });
    expect(res.status).toBe(416);
    expect((await request(addr, "GET", loc)).headers.range).toBe("0-99");
    res = await request(addr, "PATCH", loc, { body: bytes.subarray(100), headers: { "Content-Range": "100-199" } });
    expect(res.status).toBe(202);
    res = await request(addr, "PUT", `${loc}?digest=${sha256(bytes)}`);
    expect(res.status).toBe(201);
  });

  it("PUT with a digest that does not match the upload: 400 DIGEST_INVALID and the session ends", async () => {
    const loc = await startSession("b/mismatch");
    await request(addr, "PATCH", loc, { body: randomBytes(500) });
    const wrong = sha256("not it");
    const res = await request(addr, "PUT", `${loc}?digest=${wrong}`);
    expect(res.status).toBe(400);
    expect(errorCode(res.body)).toBe("DIGEST_INVALID");
    expect((await request(addr, "HEAD", `/v2/b/mismatch/blobs/${wrong}`)).status).toBe(404);
    expect((await request(addr, "GET", loc)).status).toBe(404);
    const missing = await request(addr, "PUT", `${await startSession("b/mismatch")}`);
    expect(missing.status).toBe(400); // no ?digest=
    expect(errorCode(missing.body)).toBe("DIGEST_INVALID");
  });

  it("DELETE cancels a session; unknown sessions are 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const loc = await startSession("b/cancel");
    expect((await request(addr, "DELETE", loc)).status).toBe(204);
    const res = await request(addr, "PATCH", loc, { body: "x" });
    expect(res.status).toBe(404);
    expect(errorCode(res.body)).toBe("BLOB_UPLOAD_UNKNOWN");
    expect((await request(addr, "GET", "/v2/b/cancel/blobs/uploads/not-a-uuid")).status).toBe(404);
    // A session belongs to its repository.
    const other = await startSession("b/cancel");
    const id = other.split("/").pop();
    expect((await request(addr, "GET", `/v2/b/elsewhere/blobs/uploads/${id}`)).status).toBe(404);
  });

  it("an interrupted PATCH leaves no partial chunk behind", async () => {
    const loc = await startSession("b/abort");
    const first = randomBytes(100);
    await request(addr, "PATCH", loc, { body: first });
    // Announce 100 kB, send 5 kB, then drop the connection.
    const req = httpRequest(new URL(loc, `http://${addr}`), {
      method: "PATCH",
      headers: { "Content-Length": 100_000 },
      agent: false,
    });
    req.on("error", () => undefined);
    req.write(randomBytes(5000));
    await new Promise((r) => setTimeout(r, 100));
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await request(addr, "GET", loc)).headers.range).toBe("0-99");
    const res = await request(addr, "PUT", `${loc}?digest=${sha256(first)}`);
    expect(res.status).toBe(201);
  });

  it("concurrent uploads to one repository all succeed", async () => {
    const blobs = Array.from({ length: 8 }, () => randomBytes(200_000));
    const results = await Promise.all(
      blobs.map(async (bytes) => {
        const loc = await startSession("b/concurrent");
        const mid = 123_456;
        const r1 = await request(addr, "PATCH", loc, {
          body: bytes.subarray(0, mid),
          headers: { "Content-Range": `0-${mid - 1}` },
        });
        return request(addr, "PUT", `${r1.headers.location}?digest=${sha256(bytes)}`, { body: bytes.subarray(mid) });
      }),
    );
    expect(results.map((r) => r.status)).toEqual(blobs.map(() => 201));
    for (const bytes of blobs) {
      expect((await request(addr, "GET", `/v2/b/concurrent/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
    }
    // The same blob pushed concurrently also works (one copy on disk).
    const same = randomBytes(50_000);
    const twice = await Promise.all([1, 2, 3].map(() => pushBlob(addr, "b/concurrent", same)));
    expect(new Set(twice).size).toBe(1);
    expect(await readdir(join(reg.root, "tmp"))).toEqual([]); // no scratch files left behind
  });
});

describe("mounts and repository visibility", () => {
  it("a blob is not visible in another repository until mounted", async () => {
    const bytes = randomBytes(777);
    const digest = await pushBlob(addr, "m/src", bytes);
    expect((await request(addr, "HEAD", `/v2/m/dst/blobs/${digest}`)).status).toBe(404);
    const res = await request(addr, "POST", `/v2/m/dst/blobs/uploads/?mount=${digest}&from=m/src`);
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/v2/m/dst/blobs/${digest}`);
    expect(res.headers["docker-content-digest"]).toBe(digest);
    expect((await request(addr, "GET", `/v2/m/dst/blobs/${digest}`)).body.equals(bytes)).toBe(true);
  });

  it("mounting from a repository that lacks the blob opens an upload session (202)", async () => {
    const digest = await pushBlob(addr, "m/src2", randomBytes(10));
    const res = await request(addr, "POST", `/v2/m/dst2/blobs/uploads/?mount=${digest}&from=m/nothere`);
    expect(res.status).toBe(202);
    expect(res.headers.location).toMatch(/^\/v2\/m\/dst2\/blobs\/uploads\//);
    expect((await request(addr, "HEAD", `/v2/m/dst2/blobs/${digest}`)).status).toBe(404);
    const noFrom = await request(addr, "POST", `/v2/m/dst2/blobs/uploads/?mount=${digest}`);
    expect(noFrom.status).toBe(202);
  });
});
