import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { RegistryError } from "./http";
import { Storage } from "./storage";
import { Uploads } from "./uploads";

let root: string;
let storage: Storage;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "devregistry-uploads-"));
  storage = await Storage.open(root);
});
afterEach(async () => rm(root, { recursive: true, force: true }));

const body = (b: Buffer) => ({ body: Readable.from([b]) });

describe("Uploads", () => {
  it("finishes an upload a new instance picked up (running hash lost, file rehashed)", async () => {
    const bytes = randomBytes(70_000);
    const first = new Uploads(storage);
    const s = await first.create("r");
    await first.append("r", s.id, body(bytes.subarray(0, 30_000)));
    const second = new Uploads(await Storage.open(root)); // as after a restart
    await second.append("r", s.id, { ...body(bytes.subarray(30_000)), range: { start: 30_000, end: 69_999 } });
    expect(await second.finish("r", s.id, sha256(bytes))).toBe(70_000);
    expect(await storage.repoBlobSize("r", sha256(bytes))).toBe(70_000);
    expect(await readdir(join(root, "uploads"))).toEqual([]);
  });

  it("serializes concurrent appends to one session", async () => {
    const up = new Uploads(storage);
    const s = await up.create("r");
    const parts = Array.from({ length: 10 }, () => randomBytes(10_000));
    await Promise.all(parts.map((p) => up.append("r", s.id, body(p))));
    expect((await up.get("r", s.id)).size).toBe(100_000);
    // Order of arrival is the order of calls.
    expect(await up.finish("r", s.id, sha256(Buffer.concat(parts)))).toBe(100_000);
  });

  it("a digest mismatch ends the session and stores nothing", async () => {
    const up = new Uploads(storage);
    const s = await up.create("r");
    const err = await up.finish("r", s.id, sha256("x"), body(Buffer.from("y"))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe("DIGEST_INVALID");
    expect(await storage.blobSize(sha256("x"))).toBeUndefined();
    expect(await storage.blobSize(sha256("y"))).toBeUndefined();
    await expect(up.get("r", s.id)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
  });

  it("sweep removes abandoned sessions only", async () => {
    const up = new Uploads(storage);
    const old = await up.create("r");
    const fresh = await up.create("r");
    const past = new Date(Date.now() - 10 * 24 * 3600 * 1000);
    await utimes(join(root, "uploads", old.id, "data"), past, past);
    expect(await up.sweep(7 * 24 * 3600 * 1000)).toBe(1);
    await expect(up.get("r", old.id)).rejects.toMatchObject({ code: "BLOB_UPLOAD_UNKNOWN" });
    expect((await up.get("r", fresh.id)).size).toBe(0);
  });
});
