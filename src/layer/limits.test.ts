import { describe, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import {
  DEFAULT_LIMITS,
  DISK_CHECK_INTERVAL,
  ensureFreeSpace,
  ExpansionBudget,
  IMAGE_RATIO_FLOOR,
  limitsFromFlags,
  RATIO_FLOOR,
  resolveLimits,
} from "./limits";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe("resolveLimits", () => {
  it("defaults, then the environment, then the flag", () => {
    expect(resolveLimits({}, {})).toEqual(DEFAULT_LIMITS);
    const entries = { maxLayerEntries: 200_000, maxImageEntries: 300_000 };
    const transfer = { minTransferRate: 1024, transferRateWindow: 30_000, responseHeadersTimeout: 60_000 };
    expect(DEFAULT_LIMITS).toEqual({
      maxUnpackedSize: 20 * GiB,
      maxLayerRatio: 100,
      minFreeSpace: GiB,
      maxTarMetadata: 256 * MiB,
      ...entries,
      ...transfer,
    });
    const env = {
      PIPELINE_MAX_UNPACKED_SIZE: "40GiB",
      PIPELINE_MAX_LAYER_RATIO: "500",
      PIPELINE_MIN_FREE_SPACE: "0",
      PIPELINE_MAX_TAR_METADATA: "1G",
      PIPELINE_MAX_LAYER_ENTRIES: "7",
      PIPELINE_MIN_TRANSFER_RATE: "0",
      PIPELINE_TRANSFER_RATE_WINDOW: "2m",
      PIPELINE_RESPONSE_HEADERS_TIMEOUT: "90s",
    };
    const fromEnv = { minTransferRate: 0, transferRateWindow: 120_000, responseHeadersTimeout: 90_000 };
    expect(resolveLimits({}, env)).toEqual({
      maxUnpackedSize: 40 * GiB,
      maxLayerRatio: 500,
      minFreeSpace: 0,
      maxTarMetadata: GiB,
      ...entries,
      maxLayerEntries: 7,
      ...fromEnv,
    });
    const flags = {
      "max-unpacked-size": "300MiB",
      "max-layer-ratio": "2000",
      "min-free-space": "5GiB",
      "max-layer-entries": "8",
      "max-image-entries": "9",
      "min-transfer-rate": "64KiB/s",
    };
    expect(limitsFromFlags(flags, env)).toEqual({
      maxUnpackedSize: 300 * MiB,
      maxLayerRatio: 2000,
      minFreeSpace: 5 * GiB,
      maxTarMetadata: GiB,
      maxLayerEntries: 8,
      maxImageEntries: 9,
      minTransferRate: 64 * 1024,
      transferRateWindow: 120_000,
      responseHeadersTimeout: 90_000,
    });
    expect(resolveLimits({}, { PIPELINE_MAX_UNPACKED_SIZE: "" }).maxUnpackedSize).toBe(20 * GiB);
  });

  it.each([
    [{ "max-unpacked-size": "lots" }, {}, "--max-unpacked-size", '"lots"'],
    [{ "max-layer-ratio": "0.5" }, {}, "--max-layer-ratio", '"0.5"'],
    [{ "max-layer-ratio": "x" }, {}, "--max-layer-ratio", '"x"'],
    [{}, { PIPELINE_MIN_FREE_SPACE: "-1" }, "$PIPELINE_MIN_FREE_SPACE", '"-1"'],
    [{}, { PIPELINE_MAX_TAR_METADATA: "1 parsec" }, "$PIPELINE_MAX_TAR_METADATA", '"1 parsec"'],
    [{ "max-layer-entries": "1.5" }, {}, "--max-layer-entries", '"1.5"'],
    [{}, { PIPELINE_MAX_IMAGE_ENTRIES: "0" }, "$PIPELINE_MAX_IMAGE_ENTRIES", '"0"'],
    [{ "min-transfer-rate": "fast" }, {}, "--min-transfer-rate", '"fast"'],
    [{}, { PIPELINE_TRANSFER_RATE_WINDOW: "0s" }, "$PIPELINE_TRANSFER_RATE_WINDOW", '"0s"'],
    [{}, { PIPELINE_RESPONSE_HEADERS_TIMEOUT: "soon" }, "$PIPELINE_RESPONSE_HEADERS_TIMEOUT", '"soon"'],
    [{}, { PIPELINE_TRANSFER_RATE_WINDOW: "30" }, "$PIPELINE_TRANSFER_RATE_WINDOW", '"30"'],
  ])("a bad value is a usage error naming where it came from: %j %j", (flags, env, where, value) => {
    const e = pipelineErrorOfSync(() => limitsFromFlags(flags, env));
    expect(e.code).toBe("E_USAGE");
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(where);
    expect(e.message).toContain(value);
  });
});

describe("ExpansionBudget", () => {
  it("holds an image's layers together to maxUnpackedSize, naming the layer, the limit and both knobs", () => {
    const budget = new ExpansionBudget({ ...DEFAULT_LIMITS, maxUnpackedSize: 10 * MiB });
    budget.layer("layer A").add(6 * MiB, 6 * MiB);
    const b = budget.layer("layer B");
    b.add(4 * MiB, 4 * MiB);
    const e = pipelineErrorOfSync(() => b.add(1, 4 * MiB));
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toMatch(/^layer B: the image's layers expand to more than 10(\.0)? MiB/);
    expect(e.message).toContain("--max-unpacked-size or $PIPELINE_MAX_UNPACKED_SIZE");
  });

  it("refuses a layer expanding past maxLayerRatio, once past RATIO_FLOOR; uncompressed layers are not held to it", () => {
    const m = new ExpansionBudget().layer("layer Z");
    // 1000:1 below the floor is fine (a small layer cannot be much of a bomb).
    m.add(RATIO_FLOOR, RATIO_FLOOR / 1000);
    const e = pipelineErrorOfSync(() => m.add(MiB, RATIO_FLOOR / 1000));
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toContain("layer Z: expands more than 100 times its compressed size");
    expect(e.message).toContain("--max-layer-ratio or $PIPELINE_MAX_LAYER_RATIO");
    // 50:1 well past the floor is fine.
    const ok = new ExpansionBudget().layer("layer Y");
    for (let i = 0; i < 10; i++) ok.add(50 * MiB, (i + 1) * MiB);
    // Not compressed: no ratio at all.
    const plain = new ExpansionBudget().layer("layer X");
    plain.add(2 * RATIO_FLOOR);
    // A higher ratio lets the bomb through to the next limit.
    const raised = new ExpansionBudget({ ...DEFAULT_LIMITS, maxLayerRatio: 5000 }).layer("layer W");
    raised.add(2 * RATIO_FLOOR, RATIO_FLOOR / 1000);
  });

  it("refuses an image whose layers together expand past maxLayerRatio, once past IMAGE_RATIO_FLOOR", () => {
    const budget = new ExpansionBudget();
    const each = RATIO_FLOOR - MiB; // every layer under the per-layer floor
    for (let i = 0; i < 4; i++) budget.layer(`layer ${i}`).add(each, each / 1000); // 508 MiB: under the image's floor
    const e = pipelineErrorOfSync(() => budget.layer("layer 4").add(each, each / 1000));
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toContain("layer 4: the image's layers expand more than 100 times their compressed size");
    expect(e.message).toContain("--max-layer-ratio or $PIPELINE_MAX_LAYER_RATIO");
    expect(budget.used).toBeLessThan(IMAGE_RATIO_FLOOR + RATIO_FLOOR);
    // An uncompressed layer counts its own size: a big plain base keeps a zero-heavy layer above it in ratio.
    const mixed = new ExpansionBudget();
    mixed.layer("plain").add(GiB);
    mixed.layer("zeros").add(each, each / 1000);
    // A raised ratio lets it through.
    const raised = new ExpansionBudget({ ...DEFAULT_LIMITS, maxLayerRatio: 5000 });
    for (let j = 0; j < 10; j++) raised.layer(`layer ${j}`).add(each, each / 1000);
  });

  it("counts entries per layer and per image (E_LAYER_TOO_LARGE naming the limit and its knobs)", () => {
    const budget = new ExpansionBudget({ ...DEFAULT_LIMITS, maxLayerEntries: 3, maxImageEntries: 5 });
    const a = budget.layer("layer A");
    for (let i = 0; i < 3; i++) a.entry();
    const e = pipelineErrorOfSync(() => a.entry());
    expect(e.code).toBe("E_LAYER_TOO_LARGE");
    expect(e.message).toBe(
      "layer A: holds more than 3 entries (the limit); if that is expected, raise it with --max-layer-entries or $PIPELINE_MAX_LAYER_ENTRIES",
    );
    const b = budget.layer("layer B"); // A's 3 entries so far
    b.entry();
    b.entry();
    const f = pipelineErrorOfSync(() => b.entry());
    expect(f.message).toBe(
      "layer B: the image's layers hold more than 5 entries (the limit); if that is expected, raise it with --max-image-entries or $PIPELINE_MAX_IMAGE_ENTRIES",
    );
  });

  it("checks the free space before a layer and every DISK_CHECK_INTERVAL bytes of it (E_NO_SPACE)", () => {
    let free = 10 * GiB;
    let asked = 0;
    const budget = new ExpansionBudget(
      { ...DEFAULT_LIMITS, minFreeSpace: GiB },
      { path: "/somewhere", free: () => (asked++, free) },
    );
    const m = budget.layer("layer A");
    expect(asked).toBe(1);
    m.add(DISK_CHECK_INTERVAL - 1);
    expect(asked).toBe(1);
    m.add(1);
    expect(asked).toBe(2);
    free = GiB + DISK_CHECK_INTERVAL - 1; // the next interval would eat into the reserve
    const e = pipelineErrorOfSync(() => m.add(DISK_CHECK_INTERVAL));
    expect(e.code).toBe("E_NO_SPACE");
    expect(e.message).toContain("layer A: unpacking it into /somewhere would leave less than 1.0 GiB free");
    expect(e.message).toContain("--min-free-space or $PIPELINE_MIN_FREE_SPACE");
    expect(pipelineErrorOfSync(() => budget.layer("layer B")).message).toMatch(/^layer B: unpacking it/);
    // Reading (no disk) never asks.
    new ExpansionBudget().layer("layer C").add(DISK_CHECK_INTERVAL * 3);
  });

  it("ensureFreeSpace measures the real file system", () => {
    ensureFreeSpace("/", 0, { ...DEFAULT_LIMITS, minFreeSpace: 0 }, "x");
    const e = pipelineErrorOfSync(() =>
      ensureFreeSpace("/", 0, { ...DEFAULT_LIMITS, minFreeSpace: 2 ** 52 }, "model m: writing f"),
    );
    expect(e.code).toBe("E_NO_SPACE");
    expect(e.message).toMatch(/^model m: writing f into \/ would leave less than 4096 TiB free \(.* free now\)/);
  });
});
