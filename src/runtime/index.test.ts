import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  containerImageUri,
  containerImageUris,
  hasContainerImage,
  inContainer,
  runInContainer,
  runInContainerCommand,
} from "./index";

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
    expect(() => containerImageUri("tpu", env)).toThrow(
      /no container image named "tpu"; this run has: "default", "cuda"/,
    );
  });

  test('PIPELINE_CONTAINER_IMAGE, when set, is the default image, over PIPELINE_CONTAINER_IMAGE_URIS["default"] (as for the launchers)', () => {
    const both = {
      PIPELINE_CONTAINER_IMAGE: REF + "1",
      PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ cuda: REF + "0", default: REF }),
    };
    expect(containerImageUri("default", both)).toBe(REF + "1");
    expect(containerImageUris(both)).toEqual({ cuda: REF + "0", default: REF + "1" });
    const noDefault = {
      PIPELINE_CONTAINER_IMAGE: REF + "1",
      PIPELINE_CONTAINER_IMAGE_URIS: JSON.stringify({ cuda: REF + "0" }),
    };
    expect(containerImageUris(noDefault)).toEqual({ cuda: REF + "0", default: REF + "1" });
  });

  test("malformed URIS is an error, not a silent absence", () => {
    expect(() => hasContainerImage("default", { PIPELINE_CONTAINER_IMAGE_URIS: "{nope" })).toThrow(
      /PIPELINE_CONTAINER_IMAGE_URIS: expected a JSON object, got "\{nope"/,
    );
    expect(() => containerImageUris({ PIPELINE_CONTAINER_IMAGE_URIS: '{"a": 3}' })).toThrow(
      /PIPELINE_CONTAINER_IMAGE_URIS\["a"\]: expected a reference string, got 3/,
    );
  });

  test("runInContainer runs the Bazel-provided CLI with the pushed reference, env, mounts and args", () => {
    const env = {
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CLI_NODE: "/r/node",
      PIPELINE_CLI: "/r/tools/pipeline.js",
      PIPELINE_CLI_NODE_MODULES: "/r/npm/node_modules",
    };
    const c = runInContainerCommand({
      processEnv: env,
      args: ["1", "--x"],
      env: { A: "b=c" },
      mounts: [{ source: "/d", destination: "/data", readonly: true }],
    });
    expect(c.command).toBe("/r/node");
    expect(c.args).toEqual([
      "/r/tools/pipeline.js",
      "run",
      "--image",
      REF,
      "--env",
      "A=b=c",
      "--env",
      "PIPELINE_IN_CONTAINER=1",
      "--mount",
      "/d:/data:ro",
      "--network",
      "host",
      "--",
      "1",
      "--x",
    ]);
    expect(c.env.PIPELINE_TOOLS_NODE_MODULES).toBe("/r/npm/node_modules");
    // With the launchers' loader, the same command line runs through it (the V8 code cache).
    const loaded = runInContainerCommand({
      processEnv: { ...env, PIPELINE_CLI_LOADER: "/r/tools/loader.js" },
      args: ["1"],
    });
    expect(loaded.command).toBe("/r/node");
    expect(loaded.args.slice(0, 4)).toEqual(["/r/tools/loader.js", "/r/tools/pipeline.js", "run", "--image"]);
  });

  test("requireSignature becomes --require-signature; $PIPELINE_REQUIRE_SIGNATURE reaches pipeline run's environment", () => {
    const env = { PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_REQUIRE_SIGNATURE: "/keys/team.pub" };
    const c = runInContainerCommand({ processEnv: env, requireSignature: "/keys/cosign.pub" });
    expect(c.args.slice(0, 5)).toEqual(["run", "--image", REF, "--env", "PIPELINE_IN_CONTAINER=1"]);
    expect(c.args.slice(5, 7)).toEqual(["--require-signature", "/keys/cosign.pub"]);
    expect(runInContainerCommand({ processEnv: env }).env.PIPELINE_REQUIRE_SIGNATURE).toBe("/keys/team.pub");
  });

  test("a built but unpushed image (:NAME_binary) runs from its OCI layout, pinned to the same digest", () => {
    const env = {
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CONTAINER_IMAGE_LAYOUTS: JSON.stringify({ default: "/r/img" }),
    };
    const c = runInContainerCommand({ processEnv: env });
    expect(c.command).toBe("pipeline");
    expect(c.args.slice(0, 3)).toEqual(["run", "--image", "oci:/r/img@sha256:" + "b".repeat(64)]);
  });

  test("an explicit image (containerImageUri() of another name, or any reference) is run as given", () => {
    const other = "localhost:5000/other@sha256:" + "c".repeat(64);
    const env = {
      PIPELINE_CONTAINER_IMAGE: REF,
      PIPELINE_CONTAINER_IMAGE_LAYOUTS: JSON.stringify({ default: "/r/img" }),
    };
    expect(runInContainerCommand({ processEnv: env, image: other }).args.slice(0, 3)).toEqual([
      "run",
      "--image",
      other,
    ]);
    // The run's own image, named explicitly, still runs from its layout under :NAME_binary.
    expect(runInContainerCommand({ processEnv: env, image: REF }).args[2]).toBe("oci:/r/img@sha256:" + "b".repeat(64));
  });

  test("runInContainer without an image says so before starting anything", async () => {
    await expect(runInContainer({ processEnv: {} })).rejects.toThrow(/PIPELINE_CONTAINER_IMAGE is not set/);
  });

  test("inContainer is only true with PIPELINE_IN_CONTAINER=1", () => {
    expect(inContainer({})).toBe(false);
    expect(inContainer({ PIPELINE_IN_CONTAINER: "1" })).toBe(true);
  });

  test("runInContainer resolves to the CLI's exit code and passes it the arguments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rp-runtime-"));
    try {
      const cli = join(dir, "cli.js");
      writeFileSync(
        cli,
        "const a = process.argv.slice(2); process.exit(a[0] === 'run' && a.at(-1) === 'last' ? 7 : 1);\n",
      );
      const env = { PIPELINE_CONTAINER_IMAGE: REF, PIPELINE_CLI_NODE: process.execPath, PIPELINE_CLI: cli };
      expect(await runInContainer({ processEnv: env, args: ["last"] })).toBe(7);
      expect(await runInContainer({ processEnv: env, args: ["other"] })).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
