// The dev registry's request plumbing: ranges, Basic auth, name and digest checks, error bodies.
import { describe, expect, it } from "vitest";
import { basicAuthOk } from "./basic-auth";
import { isValidName, validateDigest } from "./names";
import { errorBody, ErrorAnswer } from "./error-answer";
import { parseContentRange, uploadRange } from "./upload-range";

describe("request plumbing", () => {
  it("parseContentRange accepts the spec's form and common variants", () => {
    expect(parseContentRange("0-99")).toEqual({ start: 0, end: 99 });
    expect(parseContentRange("bytes 100-199/*")).toEqual({ start: 100, end: 199 });
    expect(parseContentRange("bytes=5-5/10")).toEqual({ start: 5, end: 5 });
    for (const bad of ["", "5", "-5", "9-3", "a-b", "0-1,2-3"]) expect(parseContentRange(bad), bad).toBeUndefined();
  });

  it("uploadRange follows the reference registry (0-0 when empty)", () => {
    expect(uploadRange(0)).toBe("0-0");
    expect(uploadRange(100)).toBe("0-99");
  });

  it("basicAuthOk checks user and password exactly", () => {
    const h = (s: string) => "Basic " + Buffer.from(s).toString("base64");
    expect(basicAuthOk(h("u:p:w"), "u", "p:w")).toBe(true);
    expect(basicAuthOk(h("u:p"), "u", "p:w")).toBe(false);
    expect(basicAuthOk(h("U:p:w"), "u", "p:w")).toBe(false);
    expect(basicAuthOk(h("up:w"), "u", "p:w")).toBe(false);
    expect(basicAuthOk(undefined, "u", "p")).toBe(false);
    expect(basicAuthOk("Bearer x", "u", "p")).toBe(false);
  });

  it("repository names follow the spec's grammar", () => {
    for (const ok of ["a", "a/b", "a-b", "a--b", "a__b", "a.b", "0/1"]) expect(isValidName(ok), ok).toBe(true);
    for (const bad of ["A", "a/", "/a", "a___b", "a..b", "a/.b", "a:b", "", "a".repeat(201)])
      expect(isValidName(bad), bad).toBe(false);
  });

  it("validateDigest: sha256 only, DIGEST_INVALID otherwise", () => {
    expect(validateDigest("sha256:" + "a".repeat(64))).toBe("sha256:" + "a".repeat(64));
    for (const bad of [null, "", "sha256:abc", "sha512:" + "a".repeat(128), "SHA256:" + "a".repeat(64)]) {
      expect(() => validateDigest(bad)).toThrow(ErrorAnswer);
    }
    expect(() => validateDigest("sha512:" + "a".repeat(128))).toThrow(/only sha256 digests are supported/);
    expect(() => validateDigest("nope")).toThrow(/expected sha256:<64 lowercase hex>/);
  });

  it("errorBody is the spec's shape", () => {
    const err = new ErrorAnswer(404, "BLOB_UNKNOWN", "nope", { digest: "d" }, {}, [
      { code: "BLOB_UNKNOWN", message: "two" },
    ]);
    expect(JSON.parse(errorBody(err).toString())).toEqual({
      errors: [
        { code: "BLOB_UNKNOWN", message: "nope", detail: { digest: "d" } },
        { code: "BLOB_UNKNOWN", message: "two" },
      ],
    });
  });
});
