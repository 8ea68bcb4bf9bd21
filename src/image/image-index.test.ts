import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { PipelineError } from "../errors";
import { readLayout, readLayoutIndex } from "../layout/read";
import { writeLayout } from "../layout/write";
import { forPlatform } from "../../test/fixtures/multi-platform";
import { randomImage } from "../../test/fixtures/random-image";
import { composeIndex } from "./image-index";

const tmp = mkdtempSync(join(tmpdir(), "rp-index-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const amd64 = forPlatform(randomImage({ layers: 2 }), "amd64");
const arm64 = forPlatform(amd64, "arm64", "v8");

describe("composeIndex", () => {
  test("one entry per image, with its config's platform, in order", () => {
    const idx = composeIndex([amd64, arm64]);
    expect(idx.index.manifests).toEqual([
      {
        mediaType: amd64.mediaType,
        digest: amd64.digest,
        size: amd64.manifestBytes.length,
        platform: { architecture: "amd64", os: "linux" },
      },
      {
        mediaType: arm64.mediaType,
        digest: arm64.digest,
        size: arm64.manifestBytes.length,
        platform: { architecture: "arm64", os: "linux", variant: "v8" },
      },
    ]);
    expect(composeIndex([amd64, arm64]).digest).toBe(idx.digest); // reproducible
  });

  test("two images of one platform are refused", () => {
    expect(() => composeIndex([amd64, forPlatform(amd64, "amd64")])).toThrow(PipelineError);
    expect(() => composeIndex([amd64, forPlatform(amd64, "amd64")])).toThrow(/both for linux\/amd64/);
  });
});

describe("index layouts", () => {
  test("written by the one writer, read back whole; single-image readers pick the platform", async () => {
    const dir = join(tmp, "two");
    const idx = composeIndex([amd64, arm64]);
    await writeLayout(dir, idx, { refName: "latest", atomic: true });
    const top = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(top.manifests).toEqual([
      {
        mediaType: idx.mediaType,
        digest: idx.digest,
        size: idx.bytes.length,
        annotations: { "org.opencontainers.image.ref.name": "latest" },
      },
    ]);
    const back = readLayoutIndex(dir)!;
    expect(back.bytes.equals(idx.bytes)).toBe(true);
    expect(back.manifests.map((m) => m.image.digest)).toEqual([amd64.digest, arm64.digest]);
    expect(readLayout(dir, { platform: { os: "linux", architecture: "arm64" } }).digest).toBe(arm64.digest);
    let err: PipelineError | undefined;
    try {
      readLayout(dir, { platform: { os: "linux", architecture: "s390x" } });
    } catch (e) {
      err = e as PipelineError;
    }
    expect(err?.code).toBe("E_PLATFORM");
    expect(err?.message).toBe(
      `OCI layout ${dir}: no manifest for linux/s390x in index ${idx.digest} (has: linux/amd64, linux/arm64/v8)`,
    );
    // A single image is not an index.
    await writeLayout(join(tmp, "one"), amd64);
    expect(readLayoutIndex(join(tmp, "one"))).toBeUndefined();
  });

  test("the atomic index write refuses to replace a directory that is not a layout", async () => {
    const dir = join(tmp, "precious");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, "keep.txt"), "x");
    await expect(writeLayout(dir, composeIndex([amd64, arm64]), { atomic: true })).rejects.toThrow(
      /refusing to replace/,
    );
    expect(readFileSync(join(dir, "keep.txt"), "utf8")).toBe("x");
  });
});
