/**
 * The parallel gzip stream: its bytes are a function of the input and the level only (never of the concurrency or
 * of how the input was split into chunks), they follow the pigz-style format written out by hand below, they are
 * one gzip member that zlib, GNU gzip and pigz read back, and the dictionary keeps the size at a single stream's.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { constants as zc, crc32, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { GZIP_BLOCK, gzipHeader, ParallelGzip } from "./gzip";

/** 3,000 bytes that do not compress, the same for the same `i`. */
function noise(i: number): Buffer {
  return Buffer.concat(
    Array.from({ length: 94 }, (_, k) => createHash("sha256").update(`${i}.${k}`).digest()).slice(0, 94),
  ).subarray(0, 3000);
}

/** Text-like bytes (a JavaScript-ish module repeated with variations) and incompressible bytes, interleaved. */
function sample(n: number, seed = 1): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const p =
      i % 5 === 4
        ? noise(seed * 100000 + i)
        : Buffer.from(`export function f${seed}_${i}(x) { return x * ${i} + "${"abc".repeat(i % 13)}"; }\n`);
    parts.push(p);
    len += p.length;
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Splits `b` into chunks of the given sizes, cycling. */
function chunks(b: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < b.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(b.subarray(off, off + n));
    off += n;
  }
  return out;
}

async function gzipOf(input: Buffer[], level: number, concurrency?: number): Promise<Buffer> {
  const gz = new ParallelGzip({ level, concurrency });
  const out = buffer(gz);
  await pipeline(Readable.from(input, { objectMode: false }), gz);
  return out;
}

/** The format, spelled out: header, each block raw-deflated with the previous 32 KiB as dictionary, trailer. */
function byHand(input: Buffer, level: number): Buffer {
  const parts = [gzipHeader(level)];
  let start = 0;
  do {
    const end = Math.min(input.length, start + GZIP_BLOCK);
    const last = end === input.length;
    const opts = {
      level,
      finishFlush: last ? zc.Z_FINISH : zc.Z_SYNC_FLUSH,
      ...(start > 0 ? { dictionary: input.subarray(Math.max(0, start - 32768), start) } : {}),
    };
    parts.push(deflateRawSync(input.subarray(start, end), opts));
    start = end;
  } while (start < input.length);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(input), 0);
  trailer.writeUInt32LE(input.length % 2 ** 32, 4);
  return Buffer.concat([...parts, trailer]);
}

describe("ParallelGzip", () => {
  const sizes = [0, 1, 1000, GZIP_BLOCK - 1, GZIP_BLOCK, GZIP_BLOCK + 1, 3 * GZIP_BLOCK, 5 * GZIP_BLOCK + 12345];

  it("gives the same bytes for any concurrency and any chunking, equal to the format written out by hand", async () => {
    for (const n of sizes) {
      const input = sample(n, n);
      const expected = byHand(input, 6);
      const splits = [[input.length || 1], [1, 7, 65536, 200000], [GZIP_BLOCK], [GZIP_BLOCK + 1, 3]];
      for (const concurrency of [1, 2, 4]) {
        for (const split of splits) {
          const got = await gzipOf(chunks(input, split), 6, concurrency);
          expect(got.equals(expected), `size ${n}, concurrency ${concurrency}, chunks ${split.join(",")}`).toBe(true);
        }
      }
      expect(gunzipSync(expected).equals(input)).toBe(true);
    }
  });

  it("is one gzip member: the deflate stream ends exactly at the trailer, which holds the CRC-32 and length", async () => {
    const input = sample(4 * GZIP_BLOCK + 99);
    const gz = await gzipOf([input], 6, 2);
    const { buffer: inflated, engine } = inflateRawSync(gz.subarray(10, gz.length - 8), { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    expect(inflated.equals(input)).toBe(true);
    expect(engine.bytesWritten).toBe(gz.length - 18);
    expect(gz.readUInt32LE(gz.length - 8)).toBe(crc32(input));
    expect(gz.readUInt32LE(gz.length - 4)).toBe(input.length);
  });

  it("is read back by GNU gzip and pigz (gzip -t, -l: one member, right length)", async () => {
    const input = sample(3 * GZIP_BLOCK + 5);
    const gz = await gzipOf([input], 6, 4);
    expect(execFileSync("gzip", ["-dc"], { input: gz, maxBuffer: 1 << 26 }).equals(input)).toBe(true);
    execFileSync("gzip", ["-t"], { input: gz });
    const listed = execFileSync("gzip", ["-lq"], { input: gz }).toString().trim().split(/\s+/);
    expect(Number(listed[1])).toBe(input.length);
    let pigz = true;
    try {
      execFileSync("pigz", ["--version"], { stdio: "ignore" });
    } catch {
      pigz = false; // not installed on every machine; GNU gzip above is
    }
    if (pigz) expect(execFileSync("pigz", ["-dc"], { input: gz, maxBuffer: 1 << 26 }).equals(input)).toBe(true);
  });

  it("writes the header gzip -n writes on Unix for every level (mtime 0, OS 3, zlib's extra flags)", async () => {
    for (let level = 0; level <= 9; level++) {
      const zlibHeader = Buffer.from(gzipSync(Buffer.from("x"), { level }).subarray(0, 10));
      zlibHeader[9] = 3; // zlib writes its build's OS; Linux's is 3 already
      expect([...gzipHeader(level)], `level ${level}`).toEqual([...zlibHeader]);
      const gz = await gzipOf([sample(GZIP_BLOCK + 10)], level, 2);
      expect([...gz.subarray(0, 10)]).toEqual([...zlibHeader]);
      expect(gunzipSync(gz).equals(sample(GZIP_BLOCK + 10))).toBe(true);
    }
  });

  it("stays within 1% of one zlib stream's size: each block is primed with the previous 32 KiB", async () => {
    // 24 KiB of incompressible bytes over and over: every repeat is found only through the window, so a block that
    // started without the previous block's tail would store its first 24 KiB again
    const unit = Buffer.concat(Array.from({ length: 8 }, (_, i) => noise(i))).subarray(0, 24 * 1024);
    const input = Buffer.concat(Array.from({ length: (8 * GZIP_BLOCK) / unit.length + 1 }, () => unit));
    const ours = await gzipOf([input], 6, 2);
    const single = gzipSync(input, { level: 6 });
    expect(ours.length).toBeLessThanOrEqual(single.length * 1.01);
  });

  it("refuses a bad level or concurrency, naming the value", () => {
    expect(() => new ParallelGzip({ level: 10 })).toThrow(
      expect.objectContaining({ code: "E_GZIP", message: expect.stringContaining("got 10") }),
    );
    expect(() => new ParallelGzip({ level: 6, concurrency: 0 })).toThrow(
      expect.objectContaining({ code: "E_GZIP", message: expect.stringContaining("got 0") }),
    );
  });
});
