import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, expectTypeOf, test } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { pushTarget } from "../transfer/target";
import { type LaunchConfig, readLaunchConfig } from "./config";

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

const tmp = mkdtempSync(join(tmpdir(), "rp-launch-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What bazel/private/pipeline/launcher.bzl `launch_config` writes for a stamped, signed `pipeline_push`. */
const GOOD = {
  label: "//app:hello_push",
  mode: "push",
  workspace: "ws",
  registry: "localhost:5000",
  repository: "team/app",
  tags: ["v1", "{BUILD_SCM_REVISION}"],
  insecure: false,
  images: [
    {
      name: "default",
      layout: "ws/app/hello_image",
      digestFile: "ws/app/hello_image.digest",
      sbomFile: "ws/app/hello.spdx.json",
    },
  ],
  env: { LOG_LEVEL: "debug" },
  entry: "ws/app/main.js",
  stampFiles: ["ws/bazel-out/stable-status.txt", "ws/bazel-out/volatile-status.txt"],
  lockfiles: [{ name: "//:package-lock.json", path: "ws/package-lock.json" }],
  signKey: "ws/keys/cosign.key",
};

let n = 0;
function configFile(value: unknown): string {
  const path = join(tmp, `launch-${n++}.json`);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
  return path;
}

describe("readLaunchConfig", () => {
  test("returns the config as written, typed from the schema", () => {
    const cfg = readLaunchConfig(configFile(GOOD));
    expect(cfg).toEqual(GOOD);
    expectTypeOf(cfg.mode).toEqualTypeOf<"push" | "run" | "binary" | "local">();
    expectTypeOf(cfg.insecure).toEqualTypeOf<boolean>();
    expectTypeOf(cfg.images[0].sbomFile).toEqualTypeOf<string | undefined>();
    expectTypeOf<NonNullable<LaunchConfig["lockfiles"]>[number]["path"]>().toEqualTypeOf<string>();
    expectTypeOf<LaunchConfig["signKey"]>().toEqualTypeOf<string | undefined>();
  });

  test("a `_local` target's config (no images, no optional field) is accepted", () => {
    const {
      entry: _e,
      stampFiles: _s,
      lockfiles: _l,
      signKey: _k,
      ...local
    } = { ...GOOD, mode: "local", images: [], tags: [] };
    expect(readLaunchConfig(configFile(local))).toEqual(local);
  });

  test.each([
    ["not a mapping", ["push"], "expected a mapping of launch settings (label, mode, images, ...) (got a list)"],
    ["a missing required field", (({ images: _i, ...rest }) => rest)(GOOD), 'images: missing required field "images"'],
    [
      "an unknown field",
      { ...GOOD, stamp_files: [] },
      'stamp_files: unknown field (did you mean "stampFiles"?); known fields: label, mode, workspace, registry, repository, tags, insecure, images, env, entry, preload, stampFiles, lockfiles, signKey, remoteCache',
    ],
    [
      "a string of the wrong type",
      { ...GOOD, registry: 5000 },
      'registry: expected a string (quote it: "5000") (got 5000)',
    ],
    [
      "a mode it does not know",
      { ...GOOD, mode: "deploy" },
      'mode: expected one of "push", "run", "binary", "local" (got "deploy")',
    ],
    ["a boolean written as a string", { ...GOOD, insecure: "false" }, 'insecure: expected true or false (got "false")'],
    ["a list that is not one", { ...GOOD, tags: "v1" }, 'tags: expected a list (got "v1")'],
    ["a list item of the wrong type", { ...GOOD, tags: ["v1", null] }, "tags[1]: expected a string (got null)"],
    [
      "an environment value that is not a string",
      { ...GOOD, env: { PORT: 8080 } },
      'env.PORT: expected a string (quote it: "8080") (got 8080)',
    ],
    [
      "an image without its digest file",
      { ...GOOD, images: [{ name: "default", layout: "ws/app/hello_image" }] },
      'images[0].digestFile: missing required field "digestFile"',
    ],
    [
      "a path leaving the runfiles tree",
      { ...GOOD, images: [{ ...GOOD.images[0], layout: "ws/../../etc" }] },
      `images[0].layout: expected a runfiles-relative path (<repository>/<path>, no empty, '.' or '..' segment) (got "ws/../../etc")`,
    ],
    [
      "an absolute path",
      { ...GOOD, signKey: "/home/me/.ssh/id" },
      `signKey: expected a runfiles-relative path (<repository>/<path>, no empty, '.' or '..' segment) (got "/home/me/.ssh/id")`,
    ],
    [
      "a lockfile without its path",
      { ...GOOD, lockfiles: [{ name: "//:package-lock.json" }] },
      'lockfiles[0].path: missing required field "path"',
    ],
  ])("%s: E_LAUNCH_CONFIG naming the file, the field and the value", (_what, value, message) => {
    const path = configFile(value);
    const e = pipelineErrorOfSync(() => readLaunchConfig(path));
    expect(e.code).toBe("E_LAUNCH_CONFIG");
    expect(e.message).toBe(`launch config ${path} (malformed: rebuild the target): ${message}`);
  });

  test("every problem at once, one a line", () => {
    const path = configFile({ ...GOOD, workspace: null, images: {} });
    const e = pipelineErrorOfSync(() => readLaunchConfig(path));
    expect(e.message.split("\n")).toEqual([
      `launch config ${path} (malformed: rebuild the target): workspace: expected a string (got null)`,
      `launch config ${path} (malformed: rebuild the target): images: expected a list (got a mapping)`,
    ]);
  });

  test("not JSON: E_LAUNCH_CONFIG naming the file", () => {
    const path = configFile("{ nope");
    const e = pipelineErrorOfSync(() => readLaunchConfig(path));
    expect(e.code).toBe("E_LAUNCH_CONFIG");
    expect(e.message).toMatch(`cannot read launch config ${path}: `);
  });
});
