import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileChunks, READ_CHUNK } from "./body-chunks";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "file-chunks-test-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

/** Every chunk (copied: the buffers are reused) and the memory it sat in. */
async function drain(c: FileChunks) {
  const out: { bytes: Buffer; memory: ArrayBufferLike }[] = [];
  try {
    for (let chunk = await c.next(); chunk !== undefined; chunk = await c.next())
      out.push({ bytes: Buffer.from(chunk), memory: chunk.buffer });
  } finally {
    c.close();
  }
  return { out };
}

describe("FileChunks", () => {
  it("reads [start, end) in READ_CHUNK pieces into two buffers used in turn, telling each chunk's offset", async () => {
    const bytes = randomBytes(3 * READ_CHUNK + 777);
    const path = file("three.bin", bytes);
    const seen: [number, number][] = [];
    const { out } = await drain(
      new FileChunks(path, 100, bytes.length, "three", {
        each: (chunk, offset) => void seen.push([offset, chunk.length]),
      }),
    );
    expect(Buffer.concat(out.map((o) => o.bytes)).equals(bytes.subarray(100))).toBe(true);
    expect(seen).toEqual([
      [100, READ_CHUNK],
      [100 + READ_CHUNK, READ_CHUNK],
      [100 + 2 * READ_CHUNK, READ_CHUNK],
      [100 + 3 * READ_CHUNK, 677],
    ]);
    // Four chunks, two pieces of memory: no allocation per read.
    expect(new Set(out.map((o) => o.memory)).size).toBe(2);
    expect(out[0].memory).toBe(out[2].memory);
  });

  it("a file that ends before `end` fails with E_DIGEST_MISMATCH naming where it ended", async () => {
    const path = file("short.bin", randomBytes(1000));
    const c = new FileChunks(path, 0, 5000, "blob sha256:abc (short.bin)");
    await expect(drain(c)).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
      message: "blob sha256:abc (short.bin): content ended at byte 1000, expected 5000",
    });
  });

  it("an error thrown by `each` fails next() (the chunk is never handed out)", async () => {
    const path = file("each.bin", randomBytes(2 * READ_CHUNK));
    const c = new FileChunks(path, 0, 2 * READ_CHUNK, "each", {
      each: (_chunk, offset) => {
        if (offset > 0) throw new Error("wrong content");
      },
    });
    expect((await c.next())?.length).toBe(READ_CHUNK);
    await expect(c.next()).rejects.toThrow("wrong content");
    c.close();
  });

  it("a file whose size is not the descriptor's fails on open, before a chunk is handed out, longer or shorter", async () => {
    const path = file("sized.bin", randomBytes(3000));
    const seen: number[] = [];
    for (const fileSize of [2999, 3001]) {
      const c = new FileChunks(path, 0, Math.min(fileSize, 3000), "blob sha256:abc (sized.bin)", {
        fileSize,
        each: (c) => void seen.push(c.length),
      });
      await expect(drain(c)).rejects.toMatchObject({
        code: "E_DIGEST_MISMATCH",
        message: `blob sha256:abc (sized.bin): the file has 3000 bytes, its descriptor says ${fileSize}`,
      });
    }
    expect(seen).toEqual([]);
    expect(
      (await drain(new FileChunks(path, 0, 3000, "right", { fileSize: 3000 }))).out.map((o) => o.bytes.length),
    ).toEqual([3000]);
  });

  it("an empty range ends at once; a missing file fails on the first read", async () => {
    const path = file("empty.bin", Buffer.alloc(0));
    expect((await drain(new FileChunks(path, 0, 0, "empty"))).out).toEqual([]);
    await expect(drain(new FileChunks(join(tmp, "absent.bin"), 0, 10, "absent"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});
