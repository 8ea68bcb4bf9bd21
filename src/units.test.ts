import { describe, expect, it } from "vitest";
import { pipelineErrorOfSync } from "../test/fixtures/errors";
import { formatBytes, parseDuration, parseSize } from "./units";

describe("units", () => {
  it("parses durations", () => {
    expect(parseDuration("90s", "--x")).toBe(90_000);
    expect(parseDuration("30m", "--x")).toBe(1_800_000);
    expect(parseDuration("12h", "--x")).toBe(43_200_000);
    expect(parseDuration("7d", "--x")).toBe(604_800_000);
    expect(parseDuration("1.5d", "--x")).toBe(129_600_000);
    expect(parseDuration("2w", "--x")).toBe(1_209_600_000);
    for (const bad of ["7", "d", "-1d", "7 days", ""]) {
      const e = pipelineErrorOfSync(() => parseDuration(bad, "--older-than"));
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toContain(
        `--older-than: expected a duration like 90s, 30m, 12h, 7d or 2w, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it("parses sizes, decimal and binary", () => {
    expect(parseSize("0", "--x")).toBe(0);
    expect(parseSize("1048576", "--x")).toBe(1048576);
    expect(parseSize("500MB", "--x")).toBe(500_000_000);
    expect(parseSize("20GiB", "--x")).toBe(20 * 1024 ** 3);
    expect(parseSize("1.5G", "--x")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("2 tib", "--x")).toBe(2 * 1024 ** 4);
    for (const bad of ["", "GiB", "-1G", "5 parsecs", "1e9"]) {
      const e = pipelineErrorOfSync(() => parseSize(bad, "--max-size"));
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toContain(
        `--max-size: expected a size like 500MB, 20GiB or 1048576 (bytes), got ${JSON.stringify(bad)}`,
      );
    }
  });

  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(4096)).toBe("4.0 KiB");
    expect(formatBytes(150 * 1024 ** 2)).toBe("150 MiB");
    expect(formatBytes(1.5 * 1024 ** 3)).toBe("1.5 GiB");
  });
});
