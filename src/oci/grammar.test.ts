import { describe, expect, it } from "vitest";
import { isDigest, parseDigest } from "./digest";
import { isAnyDigest, isMediaType, isRepository, isTag, REPOSITORY_COMPONENT_RE } from "./grammar";
import { MediaType } from "./types";

describe("the OCI grammars", () => {
  it("media types: RFC 6838 type/subtype restricted names, nothing a header could not carry", () => {
    for (const ok of [
      ...Object.values(MediaType),
      "text/plain",
      "application/vnd.a+json",
      "A/B",
      "x/y!#$&^_.+-",
      `a/${"b".repeat(127)}`,
    ]) {
      expect(isMediaType(ok), ok).toBe(true);
    }
    const bad = [
      "",
      "text",
      "text/",
      "/plain",
      "text/plain; charset=utf-8",
      "text /plain",
      "a/b/c",
      `${MediaType.OCI_MANIFEST}\r\nX-Injected: 1`,
      "a/b\n",
      "a/b\u0000",
      '"a/b"',
      "-a/b",
      "a/.b",
      `a/${"b".repeat(128)}`,
      "é/b",
    ];
    for (const b of bad) expect(isMediaType(b), JSON.stringify(b)).toBe(false);
    expect(isMediaType(undefined)).toBe(false);
    expect(isMediaType(42)).toBe(false);
  });

  it("digests: sha256 for storage, any algorithm for telling unsupported from malformed", () => {
    const d = "sha256:" + "0a".repeat(32);
    expect(isDigest(d)).toBe(true);
    for (const bad of [
      "sha256:" + "A".repeat(64),
      "sha256:" + "a".repeat(63),
      "sha512:" + "a".repeat(128),
      d + "\n",
      "",
    ]) {
      expect(isDigest(bad), JSON.stringify(bad)).toBe(false);
    }
    for (const bad of ["sha256:" + "a".repeat(63), undefined, 42]) {
      expect(() => parseDigest(bad, "index.json manifests[0].digest"), String(bad)).toThrow(
        `index.json manifests[0].digest: expected a digest "sha256:<64 hex>", got ${JSON.stringify(bad)}`,
      );
    }
    expect(isAnyDigest("sha512:" + "a".repeat(128))).toBe(true);
    expect(isAnyDigest("multi+part.algo:abc=_-")).toBe(true);
    expect(isAnyDigest("nocolon")).toBe(false);
  });

  it("tags and repository names", () => {
    for (const ok of ["v1", "_x", "a".repeat(128), "1.0-rc_2"]) expect(isTag(ok), ok).toBe(true);
    for (const bad of ["", "-v1", ".v1", "a".repeat(129), "v1/beta", "v 1"]) expect(isTag(bad), bad).toBe(false);
    for (const ok of ["a", "a/b", "a-b", "a--b", "a__b", "a.b", "0/1"]) expect(isRepository(ok), ok).toBe(true);
    for (const bad of ["A", "a/", "/a", "a___b", "a..b", "a/.b", "a:b", ""]) expect(isRepository(bad), bad).toBe(false);
    expect(REPOSITORY_COMPONENT_RE.test("a/b")).toBe(false);
  });
});
