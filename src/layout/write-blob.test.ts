import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import type { Blob } from "../oci/model";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { Verifier } from "../oci/verifying-stream";
import { selfVerifyingBlob } from "../layer/blob";
import { pour, writeBlob } from "./write";

/** A blob streaming `bytes` in `chunk`-sized pieces, counting how often it was opened. */
function chunked(
  bytes: Buffer,
  chunk = 64 * 1024,
  claimed = { digest: sha256(bytes), size: bytes.length },
): Blob & { opened: number } {
  const blob = {
    ...claimed,
    mediaType: MediaType.OCI_LAYER_GZIP,
    opened: 0,
    open(): Readable {
      blob.opened++;
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
      return Readable.from(pieces);
    },
  };
  return blob;
}

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "rp-blob-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("writeBlob", () => {
  test("a blob of many batches (5.5 MiB in 64 KiB and odd-sized pieces) lands byte for byte under its digest", async () => {
    for (const piece of [64 * 1024, 7777]) {
      const d = dir();
      const bytes = randomBytes(5.5 * 1024 * 1024);
      await writeBlob(d, chunked(bytes, piece));
      expect(readdirSync(d)).toEqual([sha256(bytes).slice(7)]);
      expect(readFileSync(join(d, sha256(bytes).slice(7))).equals(bytes)).toBe(true);
    }
  });

  test("wrong bytes under a claimed digest, or a wrong size, are refused and leave no file", async () => {
    const d = dir();
    const bytes = randomBytes(3 * 1024 * 1024);
    const other = randomBytes(bytes.length);
    await expect(
      writeBlob(d, chunked(other, 65536, { digest: sha256(bytes), size: bytes.length })),
    ).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    await expect(
      writeBlob(d, chunked(bytes, 65536, { digest: sha256(bytes), size: bytes.length + 1 })),
    ).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    expect(readdirSync(d)).toEqual([]);
  });

  test("a self-verifying blob is trusted for its digest but not its size; a copy of it with another open() is hashed", async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 3);
    const good = selfVerifyingBlob(chunked(bytes));
    const d = dir();
    await writeBlob(d, good);
    expect(readFileSync(join(d, good.digest.slice(7))).equals(bytes)).toBe(true);

    // Trusted for the digest (its stream would have failed): a short stream is still caught by its length.
    const short = selfVerifyingBlob(chunked(bytes.subarray(1), 65536, { digest: sha256(bytes), size: bytes.length }));
    await expect(writeBlob(dir(), short)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });

    // The mark belongs to the object: a spread copy that streams other bytes is hashed and refused.
    const other = randomBytes(bytes.length);
    const copy = { ...good, open: () => Readable.from([other]) };
    const d2 = dir();
    await expect(writeBlob(d2, copy)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(readdirSync(d2)).toEqual([]);
  });

  test("a stream that fails midway leaves no file and is not retried here", async () => {
    const d = dir();
    const bytes = randomBytes(3 * 1024 * 1024);
    const failing = {
      digest: sha256(bytes),
      size: bytes.length,
      mediaType: MediaType.OCI_LAYER_GZIP,
      open: () =>
        Readable.from(
          (async function* () {
            yield bytes.subarray(0, 2 * 1024 * 1024);
            throw new Error("connection reset");
          })(),
        ),
    };
    await expect(writeBlob(d, failing)).rejects.toThrow("connection reset");
    expect(readdirSync(d)).toEqual([]);
  });
});

describe("pour (writeBlob's reading loop)", () => {
  const MiB = 1024 * 1024;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** A write that takes `ms`, recording its batches and how many ran at once. */
  function recorder(ms: () => number, failAt = -1) {
    const rec = { batches: [] as Buffer[], inFlight: 0, maxInFlight: 0 };
    const write = async (bufs: Buffer[]) => {
      rec.inFlight++;
      rec.maxInFlight = Math.max(rec.maxInFlight, rec.inFlight);
      await sleep(ms());
      rec.inFlight--;
      if (rec.batches.length === failAt) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
      rec.batches.push(Buffer.concat(bufs));
    };
    return { rec, write };
  }

  test("any chunking and any write speed give the same bytes, in order, in batches of at least 1 MiB, one write at a time", async () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 12; round++) {
      const bytes = randomBytes(rand(round % 3 === 0 ? 256 * 1024 : 6 * MiB) + (round === 0 ? 0 : 1));
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + rand([7, 65536, 3 * MiB][round % 3]);
        pieces.push(bytes.subarray(i, i + n));
        i += n;
      }
      const { rec, write } = recorder(() => rand(3));
      const check = new Verifier({ expect: { digest: sha256(bytes), size: bytes.length } });
      await pour(Readable.from(pieces), check, write);
      check.check();
      expect(Buffer.concat(rec.batches).equals(bytes)).toBe(true);
      expect(rec.maxInFlight).toBeLessThanOrEqual(1);
      for (const b of rec.batches.slice(0, -1)) expect(b.length).toBeGreaterThanOrEqual(MiB);
      if (bytes.length === 0) expect(rec.batches).toEqual([]);
    }
  });

  test("a slow write pauses the stream: it is not read far ahead of what is written", async () => {
    let produced = 0;
    let aheadMax = 0;
    const { rec, write } = recorder(() => 5);
    const src = new Readable({
      read() {
        const written = rec.batches.reduce((n, b) => n + b.length, 0);
        aheadMax = Math.max(aheadMax, produced - written);
        if (produced >= 12 * MiB) this.push(null);
        else {
          produced += 64 * 1024;
          this.push(Buffer.alloc(64 * 1024, 1));
        }
      },
    });
    await pour(src, new Verifier({ hash: false }), write);
    expect(rec.batches.reduce((n, b) => n + b.length, 0)).toBe(12 * MiB);
    // A batch being written, a batch gathering, and the stream's own buffer: never the whole 12 MiB.
    expect(aheadMax).toBeLessThan(3 * MiB);
  });

  test("a failing write, a chunk past the expected size, or a stream that closes early: rejected, the stream destroyed, nothing written after", async () => {
    const big = () => Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 2)));

    const failing = recorder(() => 1, 1);
    const src1 = big();
    await expect(pour(src1, new Verifier(), failing.write)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(src1.destroyed).toBe(true);
    await sleep(20);
    expect(failing.rec.batches.length).toBe(1);
    expect(failing.rec.inFlight).toBe(0);

    const src2 = big();
    const long = recorder(() => 0);
    await expect(pour(src2, new Verifier({ expect: { size: 3 * MiB } }), long.write)).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    expect(src2.destroyed).toBe(true);

    const src3 = new Readable({ read() {} });
    src3.push(Buffer.alloc(1000));
    setTimeout(() => src3.destroy(), 5);
    await expect(pour(src3, new Verifier(), recorder(() => 0).write)).rejects.toMatchObject({
      code: "ERR_STREAM_PREMATURE_CLOSE",
    });
  });
});
