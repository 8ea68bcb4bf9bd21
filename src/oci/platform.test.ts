import { describe, expect, test } from "vitest";
import { PipelineError } from "../errors";
import { sha256 } from "./digest";
import {
  formatPlatform,
  hostPlatform,
  parsePlatform,
  parsePlatformList,
  pickPlatform,
  platformMatches,
} from "./platform";
import type { Descriptor } from "./types";

function code(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineError);
    return { code: (e as PipelineError).code, message: (e as Error).message };
  }
  throw new Error("did not throw");
}

describe("platform grammar", () => {
  test("parses os/arch and os/arch/variant; formats them back", () => {
    expect(parsePlatform("linux/amd64", "--platform")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("linux/arm64/v8", "--platform")).toEqual({
      os: "linux",
      architecture: "arm64",
      variant: "v8",
    });
    expect(formatPlatform(parsePlatform("linux/arm/v7", "x"))).toBe("linux/arm/v7");
  });

  test.each(["amd64", "linux/", "/amd64", "linux/amd64/v8/x", "Linux/AMD64", "linux /amd64", ""])(
    "refuses %j with E_BAD_PLATFORM naming the flag and value",
    (bad) => {
      const e = code(() => parsePlatform(bad, "`platforms` of //pkg:app"));
      expect(e.code).toBe("E_BAD_PLATFORM");
      expect(e.message).toContain("`platforms` of //pkg:app: expected os/arch[/variant]");
      expect(e.message).toContain(`got ${JSON.stringify(bad)}`);
    },
  );

  test("lists: repeated and comma separated, in order, once each", () => {
    expect(parsePlatformList(["linux/amd64,linux/arm64", "linux/amd64"], "--platform").map(formatPlatform)).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
    expect(parsePlatformList(undefined, "--platform")).toEqual([]);
    expect(code(() => parsePlatformList(["linux/amd64,"], "--platforms")).code).toBe("E_BAD_PLATFORM");
  });

  test("matching: no variant asked takes any; arm64 without variant is v8", () => {
    expect(
      platformMatches({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" }),
    ).toBe(true);
    expect(
      platformMatches({ os: "linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "arm64" }),
    ).toBe(true);
    expect(
      platformMatches(
        { os: "linux", architecture: "arm", variant: "v6" },
        { os: "linux", architecture: "arm", variant: "v7" },
      ),
    ).toBe(false);
    expect(platformMatches(undefined, { os: "linux", architecture: "amd64" })).toBe(false);
  });

  test("host platform: node's arch names become OCI's", () => {
    expect(hostPlatform("x64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(hostPlatform("arm64")).toEqual({ os: "linux", architecture: "arm64" });
  });

  test("pick: the matching entry, or E_PLATFORM listing what the index has", () => {
    const d = (architecture: string): Descriptor => ({
      mediaType: "m",
      digest: sha256(architecture),
      size: 1,
      platform: { os: "linux", architecture },
    });
    const entries = [d("amd64"), d("arm64")];
    expect(
      pickPlatform(entries, { os: "linux", architecture: "arm64" }, { name: "x", indexDigest: sha256("index") }).digest,
    ).toBe(sha256("arm64"));
    const e = code(() =>
      pickPlatform(
        entries,
        { os: "linux", architecture: "s390x" },
        { name: "OCI layout d", indexDigest: sha256("index") },
      ),
    );
    expect(e.code).toBe("E_PLATFORM");
    expect(e.message).toBe(
      `OCI layout d: no manifest for linux/s390x in index ${sha256("index")} (has: linux/amd64, linux/arm64)`,
    );
  });
});
