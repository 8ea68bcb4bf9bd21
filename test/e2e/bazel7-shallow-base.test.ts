/**
 * Shallow bases (issue #61) on Bazel 7.7.1 under bzlmod (scripts/bazel7.sh): `pipeline_base_image` through
 * `use_repo_rule` with `layer_handling = "shallow"` and `"eager"` on the same small generated base in a real registry.
 * Building the shallow image GETs none of the base's layers and its output holds none of them; its manifest digest
 * equals the eager image's (the differential on 7.7.1; test/e2e/bazel-shallow-base.test.ts is the same on 4.2.3);
 * `_push` to another repository of the same registry mounts each base layer (no GET, PATCH or PUT of one); and on a
 * shallow base with a Node that runs (the host-node base, pushed to the registry), the pushed image runs (runc).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { readLayout } from "../../src/layout/read";
import { readRemoteBlobs } from "../../src/layout/remote";
import { digestHex } from "../../src/oci/digest";
import { pushImage } from "../../src/registry/push";
import { makeConsumerWorkspace, REPO_ROOT } from "../fixtures/bazel";
import { runCli } from "../fixtures/cli";
import { bazel7, ensureBazel7, failure, shutdown7 } from "../fixtures/bazel7";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel7-shallow-"));
let ws = "";
let reg: RunningRegistry | undefined;

afterAll(async () => {
  if (ws) await shutdown7(ws, { expunge: true });
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

it("shallow base under bzlmod: no layer downloaded or held, same digest as eager, push mounts", async () => {
  await ensureBazel7();
  reg = await startRegistry();
  const base = randomImage({ layers: 3, layerSize: 256 * 1024 });
  await pushImage(base, { registry: reg.host, repository: "bases/rand" });
  // A base with a Node that runs (the host's and its shared libraries), for the run at the end.
  const made = await runCli(["base", "host-node", "--output", join(tmp, "host-node")]);
  expect(made.code, made.stderr).toBe(0);
  const hostImage = readLayout(join(tmp, "host-node"));
  const hostDigest = (await pushImage(hostImage, { registry: reg.host, repository: "bases/hostnode" })).digest;
  const spec = (name: string, handling: string, repository = "bases/rand", digest: string = base.digest) =>
    `pipeline_base_image(name = "${name}", registry = "${reg!.host}", repository = "${repository}", ` +
    `digest = "${digest}", layer_handling = "${handling}")\n`;
  ws = makeConsumerWorkspace(join(tmp, "c"));
  writeFileSync(join(ws, "WORKSPACE"), "");
  writeFileSync(
    join(ws, "MODULE.bazel"),
    `bazel_dep(name = "rules_pipeline", version = "0.1.0")
local_path_override(module_name = "rules_pipeline", path = ${JSON.stringify(REPO_ROOT)})
pipeline = use_extension("@rules_pipeline//bazel:extensions.bzl", "pipeline")
pipeline.npm(name = "npm", package_json = "//examples:package.json", lockfile = "//examples:package-lock.json")
use_repo(pipeline, "npm", "pipeline-host-node", "pipeline-worker-base", "pipeline-worker-cuda")
pipeline_base_image = use_repo_rule("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image")
${spec("shallow_base", "shallow")}${spec("eager_base", "eager")}${spec("node_shallow", "shallow", "bases/hostnode", hostDigest)}`,
  );
  mkdirSync(join(ws, "app"), { recursive: true });
  writeFileSync(join(ws, "app/main.ts"), "console.log('SHALLOW');\n");
  const pipeline = (name: string, b: string) =>
    `pipeline(name = "${name}", entry = "main.ts", registry = "${reg!.host}", repository = "e2e/${name}", base = "${b}")\n`;
  writeFileSync(
    join(ws, "app/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")\n${pipeline("shallow", "@shallow_base//image")}${pipeline("eager", "@eager_base//image")}${pipeline("runs", "@node_shallow//image")}`,
  );
  const hex = base.layers.map((l) => digestHex(l.digest));
  const touching = (from: number) =>
    reg!
      .requests()
      .slice(from)
      .filter((q) => hex.some((h) => q.path.includes(h)));

  let from = reg.requests().length;
  const r = await bazel7(ws, ["build", "//app:shallow_image"]);
  expect(r.code, failure("build //app:shallow_image", r)).toBe(0);
  expect(touching(from).filter((q) => q.method === "GET")).toEqual([]);
  const out = join(ws, "bazel-bin/app/shallow_image");
  for (const h of hex) expect(readdirSync(join(out, "blobs/sha256"))).not.toContain(h);
  expect(readRemoteBlobs(out).size).toBe(3);

  const e = await bazel7(ws, ["build", "//app:eager_image"]);
  expect(e.code, failure("build //app:eager_image", e)).toBe(0);
  expect(readLayout(out).digest).toBe(readLayout(join(ws, "bazel-bin/app/eager_image")).digest);

  from = reg.requests().length;
  const p = await bazel7(ws, ["run", "//app:shallow_push"]);
  expect(p.code, failure("run //app:shallow_push", p)).toBe(0);
  expect(touching(from).filter((q) => ["GET", "PATCH", "PUT"].includes(q.method))).toEqual([]);
  expect(touching(from).filter((q) => q.method === "POST" && q.status === 201)).toHaveLength(3);

  // On a shallow base with a Node that runs: the push neither downloads nor uploads a base layer; the image runs.
  const hostHex = hostImage.layers.map((l) => digestHex(l.digest));
  from = reg.requests().length;
  const q = await bazel7(ws, ["run", "//app:runs_push"]);
  expect(q.code, failure("run //app:runs_push", q)).toBe(0);
  const moved = reg
    .requests()
    .slice(from)
    .filter((x) => hostHex.some((h) => x.path.includes(h)) && ["GET", "PATCH", "PUT"].includes(x.method));
  expect(moved).toEqual([]);
  const ref = q.stdout.trim().split("\n").pop() ?? "";
  expect(ref).toMatch(new RegExp(`^${reg.host}/e2e/runs@sha256:[0-9a-f]{64}$`));
  const run = await runCli(["run", "--image", ref, "--cache-dir", join(tmp, "run-cache")]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toContain("SHALLOW");
});
