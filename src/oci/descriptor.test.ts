import { describe, expect, test } from "vitest";
import { PipelineError } from "../errors";
import { descriptorProblem, parseDescriptor, parseIndexDescriptors, parseManifestDescriptors } from "./descriptor";
import { sha256 } from "./digest";
import { MediaType } from "./types";

const good = { mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256("layer"), size: 5 };

/** The error `f` throws. */
function thrown(f: () => unknown): PipelineError {
  try {
    f();
  } catch (e) {
    if (e instanceof PipelineError) return e;
    throw e;
  }
  throw new Error("did not throw");
}

describe("descriptors: digest, size and media type checked once", () => {
  test("a descriptor with all three passes, its other fields kept", () => {
    const d = { ...good, annotations: { a: "b" }, urls: ["https://x"] };
    expect(descriptorProblem(d)).toBeUndefined();
    expect(parseDescriptor(d, "x")).toEqual(d);
  });

  test.each([
    ["not an object", [good], "E_BAD_DESCRIPTOR", "x: expected a descriptor (a JSON object), got"],
    [
      "a bad digest",
      { ...good, digest: "sha256:abc" },
      "E_BAD_DIGEST",
      'x.digest: expected a digest "sha256:<64 hex>", got "sha256:abc"',
    ],
    [
      "a size as a string",
      { ...good, size: "5" },
      "E_BAD_DESCRIPTOR",
      'x.size: expected a size in bytes (a non-negative integer), got "5"',
    ],
    [
      "a negative size",
      { ...good, size: -1 },
      "E_BAD_DESCRIPTOR",
      "x.size: expected a size in bytes (a non-negative integer), got -1",
    ],
    ["a fractional size", { ...good, size: 1.5 }, "E_BAD_DESCRIPTOR", "x.size: expected a size in bytes"],
    [
      "no size",
      { ...good, size: undefined },
      "E_BAD_DESCRIPTOR",
      "x.size: expected a size in bytes (a non-negative integer), got nothing",
    ],
    ["no media type", { ...good, mediaType: undefined }, "E_BAD_DESCRIPTOR", "x.mediaType: expected a media type"],
    [
      "a media type with CR/LF",
      { ...good, mediaType: "a/b\r\nX: y" },
      "E_BAD_DESCRIPTOR",
      'x.mediaType: expected a media type "type/subtype"',
    ],
    [
      "urls that are not strings",
      { ...good, urls: [1] },
      "E_BAD_DESCRIPTOR",
      "x.urls: expected a list of strings, got [1]",
    ],
  ])("%s is refused, naming the field and the value", (_what, d, code, message) => {
    const e = thrown(() => parseDescriptor(d, "x"));
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
  });

  test("a caller's own error gets the problem and where", () => {
    const e = thrown(() =>
      parseDescriptor(
        { ...good, size: -1 },
        "layers[0]",
        (p, at) => new PipelineError("E_MODEL_ARTIFACT", `${at} ${p.field}`),
      ),
    );
    expect(e).toMatchObject({ code: "E_MODEL_ARTIFACT", message: "layers[0] size" });
  });

  test("manifests and indexes check each descriptor: config, layers, subject, entries", () => {
    const manifest = { schemaVersion: 2, config: { ...good, mediaType: MediaType.OCI_CONFIG }, layers: [good] };
    expect(parseManifestDescriptors(manifest, "m")).toBe(manifest);
    expect(
      thrown(() => parseManifestDescriptors({ ...manifest, layers: [good, { ...good, size: "5" }] }, "m")).message,
    ).toContain("m: layers[1].size");
    expect(
      thrown(() => parseManifestDescriptors({ ...manifest, config: { ...good, mediaType: 7 } }, "m")).message,
    ).toContain("m: config.mediaType");
    expect(
      thrown(() => parseManifestDescriptors({ ...manifest, subject: { ...good, size: -2 } }, "m")).message,
    ).toContain("m: subject.size");
    const index = { schemaVersion: 2, manifests: [{ ...good, mediaType: MediaType.OCI_MANIFEST }] };
    expect(parseIndexDescriptors(index, "i")).toBe(index);
    expect(thrown(() => parseIndexDescriptors({ manifests: [{ ...good, size: null }] }, "i")).message).toContain(
      "i: manifests[0].size",
    );
  });
});
