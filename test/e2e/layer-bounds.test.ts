/**
 * Issue #24's resource bounds, against the real CLI in its own process (test/fixtures/measured-cli.ts: peak RSS,
 * bytes written while it runs):
 *  - a bomb split across layers: 10 layers, each one file of 127 MiB of zeros (under the 128 MiB floor of the
 *    per-layer ratio), refused by the image's cumulative ratio before 1 GiB is written, in `run` and `verify-image`;
 *  - entry floods: a 1,000,000-entry layer refused by the default entry bound under 300 MB of memory, as many
 *    entries as the defaults allow read under 300 MB; the per-layer and per-image bounds set by flag and
 *    environment variable, naming the layer, the count and the knob;
 *  - 50,000 files and 50,000 whiteouts of absent names in one layer, then a layer whiting out each file:
 *    verify-image in a few seconds of CPU (it was quadratic: ~150 s for this image).
 */
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeImage } from "../../src/image/compose";
import type { Layer } from "../../src/oci/model";
import { writeLayout } from "../../src/layout/write";
import { MediaType } from "../../src/oci/types";
import { type Bomb, zeroBomb } from "../corpus/bombs";
import { entriesLayer } from "../corpus/entries";
import { pipelineCli } from "../fixtures/cli";
import { bytesUnder, leftovers, measuredCli } from "../fixtures/measured-cli";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

let tmp: string;
let cli: ReturnType<typeof measuredCli>;

async function layoutOf(blobs: Bomb[], dir: string): Promise<string> {
  const layers = blobs.map((b) => {
    const layer: Layer = {
      digest: b.digest,
      diffId: b.diffId,
      size: b.size,
      mediaType: MediaType.OCI_LAYER_GZIP,
      path: b.path,
      open: () => createReadStream(b.path),
    };
    return { layer, createdBy: "hostile" };
  });
  await writeLayout(dir, composeImage({ layers, entrypoint: ["/bin/true"], os: "linux", architecture: "amd64" }), {
    refName: "latest",
  });
  return dir;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bounds-"));
  cli = measuredCli(tmp);
  await pipelineCli();
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("a bomb split across layers (10 x 127 MiB of zeros)", () => {
  let layout: string;
  beforeAll(async () => {
    const bombs = Array.from({ length: 10 }, (_, i) =>
      zeroBomb(join(tmp, `split-${i}.tar.gz`), 127 * MiB, `zeros-${i}`),
    );
    layout = await layoutOf(bombs, join(tmp, "split-layout"));
  });

  it("run: E_LAYER_TOO_LARGE by the image's ratio before 1 GiB is written, nothing left in the cache", async () => {
    const cacheDir = join(tmp, "cache-split");
    let most = 0;
    const r = await cli(
      ["run", "--image", `oci:${layout}`, "--cache-dir", cacheDir],
      () => (most = Math.max(most, bytesUnder(cacheDir))),
    );
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain("the image's layers expand more than 100 times");
    expect(r.stderr).toContain("--max-layer-ratio");
    expect(r.code).toBe(1);
    expect(Math.max(most, bytesUnder(cacheDir))).toBeLessThan(GiB);
    expect(leftovers(cacheDir)).toEqual([]);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("verify-image refuses it too; a raised ratio lets it through", async () => {
    const r = await cli(["verify-image", `oci:${layout}`]);
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain("the image's layers expand more than 100 times");
    expect(r.code).toBe(1);
    const raised = await cli(["verify-image", `oci:${layout}`], undefined, { PIPELINE_MAX_LAYER_RATIO: "5000" });
    expect(raised.stderr).not.toContain("E_LAYER_TOO_LARGE");
  });
});

describe("entry floods", () => {
  let million: Bomb;
  let small: string;
  let allowed: string;
  beforeAll(async () => {
    million = entriesLayer(join(tmp, "million.tar.gz"), 1_000_000, (i) => `f${i}`);
    expect(million.size).toBeLessThan(12e6);
    const twenty = [0, 1].map((l) => entriesLayer(join(tmp, `twenty-${l}.tar.gz`), 20_000, (i) => `l${l}/f${i}`));
    small = await layoutOf(twenty, join(tmp, "twenty-layout"));
    const most = [0, 1].map((l) => entriesLayer(join(tmp, `allowed-${l}.tar.gz`), 150_000, (i) => `l${l}/f${i}`));
    allowed = await layoutOf(most, join(tmp, "allowed-layout"));
  });

  it("verify-image: a 1,000,000-entry layer is refused by the default bound, under 300 MB of memory", async () => {
    const r = await cli(["verify-image", `oci:${await layoutOf([million], join(tmp, "million-layout"))}`]);
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain(`${million.digest}): holds more than 200000 entries`);
    expect(r.stderr).toContain("--max-layer-entries or $PIPELINE_MAX_LAYER_ENTRIES");
    expect(r.code).toBe(1);
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("verify-image: as many entries as the defaults allow (2 x 150,000) stay under 300 MB", async () => {
    const r = await cli(["verify-image", `oci:${allowed}`]);
    expect(r.stderr).not.toContain("E_LAYER_TOO_LARGE");
    expect(r.stdout).toContain("300003 paths");
    expect(r.maxRssMiB).toBeLessThan(300);
  });

  it("run: the per-layer bound by flag, the per-image one by environment variable; nothing left in the cache", async () => {
    const cacheDir = join(tmp, "cache-entries");
    const r = await cli(["run", "--image", `oci:${small}`, "--cache-dir", cacheDir, "--max-layer-entries", "1000"]);
    expect(r.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(r.stderr).toContain("holds more than 1000 entries");
    expect(r.code).toBe(1);
    expect(leftovers(cacheDir)).toEqual([]);
    const i = await cli(["run", "--image", `oci:${small}`, "--cache-dir", cacheDir], undefined, {
      PIPELINE_MAX_IMAGE_ENTRIES: "30000",
    });
    expect(i.stderr).toContain("error[E_LAYER_TOO_LARGE]");
    expect(i.stderr).toContain("the image's layers hold more than 30000 entries");
    expect(i.stderr).toContain("--max-image-entries or $PIPELINE_MAX_IMAGE_ENTRIES");
    expect(i.code).toBe(1);
    expect(leftovers(cacheDir)).toEqual([]);
  });
});

describe("whiteouts by the ten thousand", () => {
  it("verify-image: 50,000 files and 50,000 whiteouts of absent names, then a layer whiting out each file, in seconds", async () => {
    const first = entriesLayer(join(tmp, "wh-0.tar.gz"), 100_000, (i) => (i % 2 ? `.wh.absent${i}` : `f${i}`));
    const second = entriesLayer(join(tmp, "wh-1.tar.gz"), 50_000, (i) => `.wh.f${2 * i}`);
    const layout = await layoutOf([first, second], join(tmp, "wh-layout"));
    const r = await cli(["verify-image", `oci:${layout}`]);
    expect(r.stdout).toContain("(sha256:");
    expect(r.stdout).toMatch(/, 1 paths\)/);
    expect(r.cpuSeconds).toBeLessThan(10);
    expect(r.maxRssMiB).toBeLessThan(300);
  });
});
