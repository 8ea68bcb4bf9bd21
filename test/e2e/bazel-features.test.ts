/**
 * Beyond the basic chain: several images per pipeline (`bases`), a base pulled by digest from a registry through
 * `pipeline_base_image` (and its layers mounted, not re-uploaded, on push), a user-supplied image that skips the
 * push, and `ibazel run` on the `_local` target.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildHostNodeBase } from "../../src/base/host-node";
import { composeImage } from "../../src/image/compose";
import type { Image } from "../../src/oci/model";
import { listLayer } from "../../src/layer/tar-read";
import { readLayout } from "../../src/layout/read";
import { pushImage } from "../../src/registry/push";
import { BAZEL, bazel, QUIET } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runPushedImage } from "../fixtures/runc";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-features-"));
let reg: RunningRegistry;
let ws: string;
let borrowed: Borrowed | undefined;
let baseDigest: string;

const MAIN = `import { containerImageUris } from "@rules_pipeline/runtime";
console.log("version v1");
console.log("uris " + JSON.stringify(containerImageUris()));
`;

let cudaStandIn: Image;

beforeAll(async () => {
  reg = await startRegistry();
  const baseDir = join(tmp, "base");
  await buildHostNodeBase(baseDir);
  const hostNode = readLayout(baseDir);
  baseDigest = (await pushImage(hostNode, { registry: reg.host, repository: "bases/node" })).digest;
  // A stand-in for NVIDIA's CUDA runtime image (which cannot be pulled here): the host's libraries, but no node.
  cudaStandIn = composeImage({
    layers: [{ layer: hostNode.layers[0], createdBy: "libraries only" }],
    env: { PATH: "/usr/bin:/bin" },
  });
  const cudaDigest = (await pushImage(cudaStandIn, { registry: reg.host, repository: "nvidia/cuda" })).digest;
  borrowed = borrowConsumerWorkspace(
    `
load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image", "pipeline_node_on_base")
pipeline_base_image(name = "local-base", registry = "${reg.host}", repository = "bases/node", digest = "${baseDigest}")
pipeline_node_on_base(
    name = "local-cuda",
    registry = "${reg.host}",
    repository = "nvidia/cuda",
    digest = "${cudaDigest}",
    node_registry = "${reg.host}",
    node_repository = "bases/node",
    node_digest = "${baseDigest}",
)
`,
  );
  ws = borrowed.ws;
  mkdirSync(join(ws, "examples/multi"));
  writeFileSync(join(ws, "examples/multi/main.ts"), MAIN);
  writeFileSync(
    join(ws, "examples/multi/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(
    name = "multi",
    entry = "main.ts",
    registry = "${reg.host}",
    repository = "examples/multi",
    bases = {"default": "@local-base//image", "host": "@pipeline-host-node//image"},
)

pipeline(
    name = "gpu",
    entry = "main.ts",
    registry = "${reg.host}",
    repository = "examples/gpu",
    base = "@local-cuda//image",
)
`,
  );
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline features", () => {
  test("a base pulled by digest from a registry is used as is, and its blobs are mounted, not re-uploaded", async () => {
    const meta = join(tmp, "multi.json");
    const r = await bazel(ws, ["run", ...QUIET, "//examples/multi:multi_push", "--", "--metadata-out", meta]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(meta, "utf8"));
    expect(Object.keys(m.images).sort()).toEqual(["default", "host"]);
    const image = readLayout(join(ws, "bazel-bin/examples/multi/multi_image"));
    expect(image.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(baseDigest);
    expect(image.manifest.annotations?.["org.opencontainers.image.base.name"]).toBe(
      `${reg.host}/bases/node@${baseDigest}`,
    );
    const outputBase = (await bazel(ws, ["info", "output_base"])).stdout.trim();
    const base = readLayout(join(outputBase, "external/local-base/image"));
    expect(image.manifest.layers.slice(0, base.layers.length).map((l) => l.digest)).toEqual(
      base.layers.map((l) => l.digest),
    );
    expect(m.images.default.mounted).toBe(base.layers.length);
    // Disk: the layout hard-links the base's blobs (the image action runs unsandboxed for that) instead of copying.
    for (const layer of base.layers) {
      const inLayout = join(
        ws,
        "bazel-bin/examples/multi/multi_image/blobs/sha256",
        layer.digest.slice("sha256:".length),
      );
      expect(statSync(inLayout).ino, layer.digest).toBe(statSync(layer.path!).ino);
    }
    const mounts = reg
      .requests()
      .filter((q) => q.method === "POST" && q.path.includes("/examples/multi/blobs/uploads/?mount="));
    expect(mounts.length).toBeGreaterThanOrEqual(base.layers.length);
  });

  test("NAME runs the launch script with every image's URI in PIPELINE_CONTAINER_IMAGE_URIS", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//examples/multi:multi"]);
    expect(r.code, r.stderr).toBe(0);
    const uris = JSON.parse(/uris (.*)/.exec(r.stdout)![1]);
    expect(Object.keys(uris).sort()).toEqual(["default", "host"]);
    for (const uri of Object.values(uris))
      expect(uri).toMatch(new RegExp(`^${reg.host.replace(/\./g, "\\.")}/examples/multi@sha256:[a-f0-9]{64}$`));
  });

  test("a PIPELINE_CONTAINER_IMAGE set by the user is used as is and nothing is pushed", async () => {
    const mine = `${reg.host}/somewhere/else@sha256:${"c".repeat(64)}`;
    const before = reg.requests().length;
    const r = await bazel(ws, ["run", ...QUIET, "//examples/multi:multi"], { PIPELINE_CONTAINER_IMAGE: mine });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(/uris (.*)/.exec(r.stdout)![1])).toEqual({ default: mine });
    expect(r.stderr).toContain("nothing pushed");
    expect(reg.requests().length).toBe(before);
  });

  test("pipeline_node_on_base adds node to a base that lacks it; the pushed image runs under runc", async () => {
    const standInFiles = await listLayer(cudaStandIn.layers[0].path!);
    expect(standInFiles.map((e) => e.path)).not.toContain("usr/local/bin/node");
    const r = await bazel(ws, ["run", ...QUIET, "//examples/multi:gpu_push", "--", "--tag", "gpu"]);
    expect(r.code, r.stderr).toBe(0);
    const run = runPushedImage(`${reg.host}/examples/gpu:gpu`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("version v1");
  });

  test("ibazel run re-runs NAME_local when the launch script changes", async () => {
    const ibazel = resolve(__dirname, "../../node_modules/.bin/ibazel");
    // ibazel writes each run's script to $TMPDIR/bazel_script_path* and leaves it there: this file's directory, not /tmp.
    const scripts = () => new Set(readdirSync(tmpdir()).filter((f) => f.startsWith("bazel_script_path")));
    const before = scripts();
    const ibazelTmp = join(tmp, "ibazel-tmp");
    mkdirSync(ibazelTmp);
    const child = spawn(ibazel, [`-bazel_path=${BAZEL}`, "run", "//examples/multi:multi_local"], {
      cwd: ws,
      env: { ...process.env, TMPDIR: ibazelTmp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", () => {});
    const waitFor = (text: string, ms: number) =>
      new Promise<void>((ok, fail) => {
        const start = Date.now();
        const tick = setInterval(() => {
          if (out.includes(text)) {
            clearInterval(tick);
            ok();
          } else if (Date.now() - start > ms) {
            clearInterval(tick);
            fail(new Error(`ibazel never printed ${JSON.stringify(text)}; got:\n${out}`));
          }
        }, 200);
      });
    try {
      await waitFor("version v1", 240_000);
      expect(out).toContain("uris {}");
      writeFileSync(join(ws, "examples/multi/main.ts"), MAIN.replace("v1", "v2"));
      await waitFor("version v2", 240_000);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      writeFileSync(join(ws, "examples/multi/main.ts"), MAIN);
    }
    expect(
      [...scripts()].filter((f) => !before.has(f)),
      `ibazel's scripts in ${tmpdir()}`,
    ).toEqual([]);
    expect(readdirSync(ibazelTmp).some((f) => f.startsWith("bazel_script_path"))).toBe(true);
  });
});
