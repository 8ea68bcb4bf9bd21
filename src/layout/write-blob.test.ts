import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import type { Blob } from "../layer/layer";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { selfVerifyingBlob, writeBlob } from "./write";

/** A blob streaming `bytes` in `chunk`-sized pieces, counting how often it was opened. */
function chunked(bytes: Buffer, chunk = 64 * 1024, claimed = { digest: sha256(bytes), size: bytes.length }): Blob & { opened: number } {
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
    await expect(writeBlob(d, chunked(other, 65536, { digest: sha256(bytes), size: bytes.length }))).rejects.toMatchObject({
      code: "E_DIGEST_MISMATCH",
    });
    await expect(writeBlob(d, chunked(bytes, 65536, { digest: sha256(bytes), size: bytes.length + 1 }))).rejects.toMatchObject({
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
