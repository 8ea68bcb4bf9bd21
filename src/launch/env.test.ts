import { describe, expect, test } from "vitest";
import { PipelineError } from "../errors";
import { ContainerImageError, containerImageEnv, containerImageUris } from "../runtime";
import { launchEnvironment, userImages } from "./env";

const REF = "localhost:5000/a/b@sha256:" + "a".repeat(64);

describe("containerImageEnv", () => {
  test("sets the default image and the map", () => {
    expect(containerImageEnv({ default: "r@d", cuda: "r@e" })).toEqual({
      PIPELINE_CONTAINER_IMAGE: "r@d",
      PIPELINE_CONTAINER_IMAGE_URIS: '{"default":"r@d","cuda":"r@e"}',
    });
    expect(containerImageEnv({})).toEqual({});
  });
  test('the main image is the one named "default", whatever the order; without one, the first name sorted', () => {
    // "cuda" comes before "default" both in the object and sorted: only choosing by name gets this right.
    expect(containerImageEnv({ cuda: "r@e", default: "r@d" }).PIPELINE_CONTAINER_IMAGE).toBe("r@d");
    expect(containerImageEnv({ zeta: "r@z", default: "r@d", alpha: "r@a" }).PIPELINE_CONTAINER_IMAGE).toBe("r@d");
    expect(containerImageEnv({ zeta: "r@z", beta: "r@b" }).PIPELINE_CONTAINER_IMAGE).toBe("r@b");
  });
});

describe("launchEnvironment", () => {
  test("the caller's environment wins over the BUILD file's env", () => {
    expect(launchEnvironment({ A: "caller" }, { A: "build", B: "build" }, undefined)).toMatchObject({
      A: "caller",
      B: "build",
    });
  });
  test("without images (:NAME_local) no image variable survives, the caller's included", () => {
    const env = {
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CONTAINER_IMAGE_URIS: "{}",
      PIPELINE_CONTAINER_IMAGE_LAYOUTS: "{}",
      PIPELINE_LAUNCH_CONFIG: "/x",
    };
    expect(launchEnvironment(env, {}, undefined)).toEqual({});
  });
  test("with images, only theirs: a stale layouts variable of the caller is gone when the images were pushed", () => {
    const env = launchEnvironment(
      { PIPELINE_CONTAINER_IMAGE_LAYOUTS: '{"default":"/old"}', PATH: "/bin" },
      {},
      { uris: { default: REF } },
    );
    expect(env).toEqual({
      PATH: "/bin",
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ default: REF }),
    });
    const built = launchEnvironment({}, {}, { uris: { default: REF }, layouts: { default: "/rf/img" } });
    expect(built.PIPELINE_CONTAINER_IMAGE_LAYOUTS).toBe('{"default":"/rf/img"}');
  });
  test("what it writes, the runtime reads back", () => {
    const uris = { cuda: REF.replace("a/b", "a/cuda"), default: REF };
    expect(containerImageUris(launchEnvironment({}, {}, { uris }))).toEqual(uris);
  });
});

describe("userImages", () => {
  test("a user-provided image is validated", () => {
    expect(userImages({})).toBeUndefined();
    expect(userImages({ PIPELINE_CONTAINER_IMAGE: "localhost:5000/a/b:t" })).toEqual({
      default: "localhost:5000/a/b:t",
    });
    expect(() => userImages({ PIPELINE_CONTAINER_IMAGE: "Not A Ref" })).toThrow(/PIPELINE_CONTAINER_IMAGE: /);
  });
  test("PIPELINE_CONTAINER_IMAGE_URIS names every image; PIPELINE_CONTAINER_IMAGE, when set, is the default one", () => {
    const uris = JSON.stringify({ cuda: "localhost:5000/a/cuda:t", default: "localhost:5000/a/b:uris" });
    expect(userImages({ PIPELINE_CONTAINER_IMAGE_URIS: uris })).toEqual({
      cuda: "localhost:5000/a/cuda:t",
      default: "localhost:5000/a/b:uris",
    });
    expect(
      userImages({ PIPELINE_CONTAINER_IMAGE_URIS: uris, PIPELINE_CONTAINER_IMAGE: "localhost:5000/a/b:single" }),
    ).toEqual({
      cuda: "localhost:5000/a/cuda:t",
      default: "localhost:5000/a/b:single",
    });
  });

  // The launchers and the launch script read the same variables: same images, same error code and message for every
  // input, good or bad (the launchers add only the reference grammar, which the import-free runtime does not check).
  const table: [string, Record<string, string>][] = [
    ["nothing", {}],
    ["the single variable", { PIPELINE_CONTAINER_IMAGE: REF }],
    ["the map", { PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ default: REF, cuda: REF }) }],
    [
      "both, the single one different",
      {
        PIPELINE_CONTAINER_IMAGE: REF.replace("a/b", "c/d"),
        PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ default: REF }),
      },
    ],
    [
      "a map without default and the single one",
      { PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ cuda: REF }) },
    ],
    ["an empty map", { PIPELINE_CONTAINER_IMAGE_URIS: "{}" }],
    ["not JSON", { PIPELINE_CONTAINER_IMAGE_URIS: "default=localhost:5000/a/b" }],
    ["a JSON array", { PIPELINE_CONTAINER_IMAGE_URIS: '["localhost:5000/a/b"]' }],
    ["JSON null", { PIPELINE_CONTAINER_IMAGE_URIS: "null" }],
    ["a number for a reference", { PIPELINE_CONTAINER_IMAGE_URIS: '{"a": 3}' }],
    ["an empty reference", { PIPELINE_CONTAINER_IMAGE_URIS: '{"a": ""}' }],
  ];
  const outcome = (f: () => unknown) => {
    try {
      return { value: f() };
    } catch (e) {
      if (!(e instanceof PipelineError || e instanceof ContainerImageError)) throw e;
      return { code: e.code, message: e.message };
    }
  };
  test.each(table)("%s: the launcher and the runtime agree", (_, env) => {
    const runtime = outcome(() => ({ ...containerImageUris(env) }));
    const launcher = outcome(() => userImages(env) ?? {});
    expect(launcher).toEqual(runtime);
  });
  test("the bad inputs of the table fail with E_BAD_IMAGE_URIS naming the variable", () => {
    const codes = table.map(([, env]) => outcome(() => userImages(env))).filter((o) => "code" in o);
    expect(codes.length).toBe(5);
    for (const o of codes)
      expect(o).toMatchObject({
        code: "E_BAD_IMAGE_URIS",
        message: expect.stringMatching(/^PIPELINE_CONTAINER_IMAGE_URIS/),
      });
  });
});
