import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { buildLayer } from "./build";
import { streamedLayer } from "./streamed";

const tmp = mkdtempSync(join(tmpdir(), "rp-streamed-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function bytesOf(open: () => NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of open()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("streamedLayer", () => {
  it("describes the bytes buildLayer writes, and each open() makes them again, identical", async () => {
    const src = join(tmp, "w.bin");
    writeFileSync(src, randomBytes(3 * 1024 * 1024 + 5));
    const inputs = [{ dest: "m/.blobs/ab/data", src, mode: 0o644 }];
    for (const level of [0, 6]) {
      const opts = { mtime: 0, level, under: "m/.blobs/ab" };
      const written = await buildLayer(inputs, join(tmp, `l${level}.tgz`), opts);
      const layer = await streamedLayer(inputs, opts);
      expect({ digest: layer.digest, size: layer.size, diffId: layer.diffId }).toEqual({
        digest: written.digest,
        size: written.size,
        diffId: written.diffId,
      });
      const first = await bytesOf(layer.open);
      expect(first.equals(readFileSync(join(tmp, `l${level}.tgz`)))).toBe(true);
      expect(sha256(await bytesOf(layer.open))).toBe(layer.digest);
    }
  });
});
