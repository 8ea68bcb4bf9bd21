/**
 * unpackLayers under limits.ts: a decompression bomb refused while it expands (default settings), the per-image
 * cap across layers, the free-space reserve, the per-layer metadata cap; errors name the layer and the knob.
 */
import { createReadStream, lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { gz, rawTar } from "../../test/corpus/raw-tar";
import { zeroBomb } from "../../test/corpus/bombs";
import { pipelineErrorOf } from "../../test/fixtures/errors";
import { sha256 } from "../oci/digest";
import { DEFAULT_LIMITS, RATIO_FLOOR } from "./limits";
import { paxRecord } from "./tar";
import { unpackLayers } from "./unpack";

const MiB = 2 ** 20;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "unpack-limits-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function layerOf(tar: Buffer) {
  const blob = gz(tar);
  return { digest: sha256(blob), diffId: sha256(tar), open: () => Readable.from([blob]) };
}

describe("unpackLayers limits", () => {
  it("refuses a decompression bomb with default settings soon after RATIO_FLOOR, naming the layer and --max-layer-ratio", async () => {
    const dir = tmp();
    const bomb = zeroBomb(join(dir, "bomb.tar.gz"), 768 * MiB);
    const root = join(dir, "root");
    const e = await pipelineErrorOf(
      unpackLayers([{ digest: bomb.digest, diffId: bomb.diffId, open: () => createReadStream(bomb.path) }], root),
    );
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toContain(`layer ${bomb.digest}: expands more than 100 times its compressed size`);
    expect(e.message).toContain("--max-layer-ratio or $PIPELINE_MAX_LAYER_RATIO");
    expect(lstatSync(join(root, "zeros")).size).toBeLessThan(RATIO_FLOOR + 32 * MiB);
  });

  it("holds all of an image's layers together to maxUnpackedSize", async () => {
    const a = layerOf(rawTar([{ name: "a", data: randomBytes(3 * MiB) }]));
    const b = layerOf(rawTar([{ name: "b", data: randomBytes(3 * MiB) }]));
    const limits = { ...DEFAULT_LIMITS, maxUnpackedSize: 5 * MiB };
    expect((await unpackLayers([a], join(tmp(), "root"), { limits })).bytes).toBe(3 * MiB);
    const e = await pipelineErrorOf(unpackLayers([a, b], join(tmp(), "root"), { limits }));
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toContain(`layer ${b.digest}: the image's layers expand to more than 5.0 MiB`);
    expect(e.message).toContain("--max-unpacked-size or $PIPELINE_MAX_UNPACKED_SIZE");
  });

  it("refuses to start a layer that would eat into the free-space reserve (E_NO_SPACE), writing nothing", async () => {
    const a = layerOf(rawTar([{ name: "a", data: "x" }]));
    const root = join(tmp(), "root");
    const e = await pipelineErrorOf(unpackLayers([a], root, { limits: { ...DEFAULT_LIMITS, minFreeSpace: 2 ** 52 } }));
    expect(e.code).toBe("E_NO_SPACE");
    expect(e.message).toContain(`layer ${a.digest}: unpacking it into`);
    expect(e.message).toContain("--min-free-space or $PIPELINE_MIN_FREE_SPACE");
    expect(readdirSync(root)).toEqual([]);
  });

  it("holds a layer's PAX data to maxTarMetadata (E_TAR_READ naming the layer)", async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}-${"n".repeat(100)}`, data: "x" })); // each name is a PAX record
    const a = layerOf(rawTar(entries));
    expect((await unpackLayers([a], join(tmp(), "root"))).files).toBe(30);
    const e = await pipelineErrorOf(
      unpackLayers([a], join(tmp(), "root"), {
        limits: { ...DEFAULT_LIMITS, maxTarMetadata: 10 * paxRecord("path", `f0-${"n".repeat(100)}`).length },
      }),
    );
    expect(e.code).toBe("E_TAR_READ");
    expect(e.message).toContain(`layer ${a.digest}: tar: at offset`);
    expect(e.message).toContain("$PIPELINE_MAX_TAR_METADATA");
  });
});
