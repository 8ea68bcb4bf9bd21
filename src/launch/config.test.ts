import { describe, expect, test } from "vitest";
import { imageEnv, pushTarget, userImages, withConfigEnv } from "./config";

const cfg = { registry: "localhost:5000", repository: "examples/hello", label: "//examples/hello:hello" };

describe("pushTarget", () => {
  test("the BUILD file's registry/repository by default", () => {
    expect(pushTarget(cfg, undefined, {})).toEqual({ registry: "localhost:5000", repository: "examples/hello" });
  });
  test("$PIPELINE_REPOSITORY overrides it, --repository overrides both", () => {
    const env = { PIPELINE_REPOSITORY: "127.0.0.1:5001/other/repo" };
    expect(pushTarget(cfg, undefined, env)).toEqual({ registry: "127.0.0.1:5001", repository: "other/repo" });
    expect(pushTarget(cfg, "ghcr.io/me/x", env)).toEqual({ registry: "ghcr.io", repository: "me/x" });
  });
  test.each([
    ["localhost:5000/a:v1", /--repository: should not contain a tag or digest, got "localhost:5000\/a:v1"/],
    ["justaname", /--repository: expected HOST\/REPOSITORY/],
    ["localhost:5000/UPPER", /lowercase/],
  ])("bad --repository %j is named with its value", (value, message) => {
    expect(() => pushTarget(cfg, value, {})).toThrow(message);
  });
});

describe("launch environment", () => {
  test("imageEnv sets the default image and the map", () => {
    expect(imageEnv({ default: "r@d", cuda: "r@e" })).toEqual({
      PIPELINE_CONTAINER_IMAGE: "r@d",
      PIPELINE_CONTAINER_IMAGE_URIS: '{"default":"r@d","cuda":"r@e"}',
    });
    expect(imageEnv({})).toEqual({});
  });
  test('imageEnv\'s main image is the one named "default", whatever the order; without one, the first name sorted', () => {
    // "cuda" comes before "default" both in the object and sorted: only choosing by name gets this right.
    expect(imageEnv({ cuda: "r@e", default: "r@d" }).PIPELINE_CONTAINER_IMAGE).toBe("r@d");
    expect(imageEnv({ zeta: "r@z", default: "r@d", alpha: "r@a" }).PIPELINE_CONTAINER_IMAGE).toBe("r@d");
    expect(imageEnv({ zeta: "r@z", beta: "r@b" }).PIPELINE_CONTAINER_IMAGE).toBe("r@b");
  });
  test("the caller's environment wins over the BUILD file's env", () => {
    expect(withConfigEnv({ A: "caller" }, { A: "build", B: "build" })).toMatchObject({ A: "caller", B: "build" });
  });
  test("a user-provided image is validated", () => {
    expect(userImages({})).toBeUndefined();
    expect(userImages({ PIPELINE_CONTAINER_IMAGE: "localhost:5000/a/b:t" })).toEqual({ default: "localhost:5000/a/b:t" });
    expect(() => userImages({ PIPELINE_CONTAINER_IMAGE: "Not A Ref" })).toThrow(/PIPELINE_CONTAINER_IMAGE\[default\]/);
  });
  test("user images: PIPELINE_CONTAINER_IMAGE_URIS names every image; PIPELINE_CONTAINER_IMAGE, when set, is the default one", () => {
    const uris = JSON.stringify({ cuda: "localhost:5000/a/cuda:t", default: "localhost:5000/a/b:uris" });
    expect(userImages({ PIPELINE_CONTAINER_IMAGE_URIS: uris })).toEqual({ cuda: "localhost:5000/a/cuda:t", default: "localhost:5000/a/b:uris" });
    expect(userImages({ PIPELINE_CONTAINER_IMAGE_URIS: uris, PIPELINE_CONTAINER_IMAGE: "localhost:5000/a/b:single" })).toEqual({
      cuda: "localhost:5000/a/cuda:t",
      default: "localhost:5000/a/b:single",
    });
  });
});
