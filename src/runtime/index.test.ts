import { describe, expect, test } from "vitest";
import { containerImageUri, containerImageUris, hasContainerImage } from "./index";

const REF = "localhost:5000/examples/hello@sha256:" + "b".repeat(64);

describe("@rules_pipeline/runtime", () => {
  test("no variables: no image, and a clear error naming the variable", () => {
    expect(hasContainerImage("default", {})).toBe(false);
    expect(() => containerImageUri("default", {})).toThrow(/PIPELINE_CONTAINER_IMAGE is not set/);
  });

  test("PIPELINE_CONTAINER_IMAGE is the default image", () => {
    const env = { PIPELINE_CONTAINER_IMAGE: REF };
    expect(hasContainerImage("default", env)).toBe(true);
    expect(containerImageUri("default", env)).toBe(REF);
  });

  test("PIPELINE_CONTAINER_IMAGE_URIS names several images; an unknown name lists the known ones", () => {
    const env = { PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ default: REF, cuda: REF + "0" }) };
    expect(containerImageUris(env)).toEqual({ default: REF, cuda: REF + "0" });
    expect(containerImageUri("cuda", env)).toBe(REF + "0");
    expect(() => containerImageUri("tpu", env)).toThrow(/no container image named "tpu"; this run has: "default", "cuda"/);
  });

  test("malformed URIS is an error, not a silent absence", () => {
    expect(() => hasContainerImage("default", { PIPELINE_CONTAINER_IMAGE_URIS: "{nope" })).toThrow(/not a JSON object/);
    expect(() => containerImageUris({ PIPELINE_CONTAINER_IMAGE_URIS: '{"a": 3}' })).toThrow(/image "a" has no reference/);
  });
});
