/**
 * `pipeline(platforms = ["linux/amd64", "linux/arm64"])` end to end with real Bazel: a hand-made 2-platform base
 * index (the host-node base, and the same layers relabelled linux/arm64: nothing runs arm64 here) pushed to a
 * docker-registry and fetched by `pipeline_base_image(platforms = ...)`, which keeps the index; the image is an
 * index whose app layers are shared and whose base is picked per platform; `_push` sends the index (skopeo `inspect
 * --raw` shows both manifests) and reports its digest; `pipeline pull --all-platforms` brings both back; runc runs
 * the amd64 image; `_push -- --platform linux/amd64` says it dropped arm64; `pipeline run` and the `_load` archive
 * pick this machine's platform; a bad `platforms` entry fails naming the attribute and the value.
 */
import { execFile } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeIndex } from "../../src/image/image-index";
import type { ImageIndex } from "../../src/oci/model";
import { readTarEntries } from "../../src/layer/tar-read";
import { type LayoutIndex, readLayout, readLayoutIndex } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { bazel, QUIET } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";
import { runCli } from "../fixtures/cli";
import { relabel } from "../fixtures/multi-platform";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runPushedImage } from "../fixtures/runc";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bazel-mp-"));
let reg: RunningRegistry;
let ws: string;
let borrowed: Borrowed | undefined;
let base: ImageIndex;

async function skopeoRaw(
  ref: string,
): Promise<{ mediaType?: string; manifests?: { digest: string; platform?: { architecture: string } }[] }> {
  const { stdout } = await run("skopeo", ["inspect", "--tls-verify=false", "--raw", ref], { timeout: 120_000 });
  return JSON.parse(stdout);
}

const lastLine = (s: string) => s.trim().split("\n").pop()!;

beforeAll(async () => {
  reg = await startRegistry();
  // The base index: host-node (linux/amd64) and its arm64 twin, made by hand.
  const hostBase = join(tmp, "host-base");
  const b = await runCli(["base", "host-node", "--output", hostBase]);
  if (b.code !== 0) throw new Error(`base host-node: ${b.stderr}`);
  const amd64 = readLayout(hostBase);
  base = composeIndex([amd64, relabel(amd64, "arm64", "v8")]);
  const baseLayout = join(tmp, "base-index");
  await writeLayout(baseLayout, base, { refName: "latest" });
  const p = await runCli(["push", baseLayout, "--repository", `${reg.host}/bases/node`, "--tag", "20"]);
  if (p.code !== 0) throw new Error(`push base: ${p.stderr}`);

  borrowed = borrowConsumerWorkspace(
    `
load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image")
pipeline_base_image(
    name = "multi_base",
    registry = "${reg.host}",
    repository = "bases/node",
    digest = "${base.digest}",
    platforms = ["linux/amd64", "linux/arm64"],
)
pipeline_base_image(
    name = "bad_base",
    registry = "${reg.host}",
    repository = "bases/node",
    digest = "${base.digest}",
    platforms = ["linux/amd64", "linux/arm64/v8/x"],
)
`,
  );
  ws = borrowed.ws;
  mkdirSync(join(ws, "app"), { recursive: true });
  writeFileSync(join(ws, "app/main.ts"), "console.log(`MULTI ${process.arch}`);\n");
  writeFileSync(
    join(ws, "app/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(
    name = "mp",
    entry = "main.ts",
    registry = "${reg.host}",
    repository = "e2e/mp",
    base = "@multi_base//image",
    platforms = ["linux/amd64", "linux/arm64"],
    tags_to_push = ["v1"],
)
`,
  );
  mkdirSync(join(ws, "bad"), { recursive: true });
  writeFileSync(join(ws, "bad/main.ts"), "console.log(1);\n");
  writeFileSync(
    join(ws, "bad/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(name = "bad", entry = "main.ts", registry = "localhost:5000", repository = "e2e/bad", base = "@multi_base//image", platforms = ["linux/amd64", "arm64"])
`,
  );
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline(platforms = [...])", () => {
  let built: LayoutIndex;
  let indexDigest: string;

  it("builds an index: base picked per platform from the base index, app layers shared", async () => {
    const r = await bazel(ws, ["build", "//app:mp_image", "//app:mp_image_digest"]);
    expect(r.code, r.stderr).toBe(0);
    const layout = join(ws, "bazel-bin/app/mp_image");
    built = readLayoutIndex(layout)!;
    expect(built).toBeDefined();
    indexDigest = readFileSync(join(ws, "bazel-bin/app/mp_image.digest"), "utf8").trim();
    expect(built.digest).toBe(indexDigest);
    expect(built.manifests.map((m) => `${m.descriptor.platform!.os}/${m.descriptor.platform!.architecture}`)).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
    const [amd, arm] = built.manifests.map((m) => m.image);
    expect(amd.config.architecture).toBe("amd64");
    expect(arm.config.architecture).toBe("arm64");
    // Each platform's base manifest, then the same app layers (built once).
    const n = base.images[0].layers.length;
    expect(amd.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(base.images[0].digest);
    expect(arm.manifest.annotations?.["org.opencontainers.image.base.digest"]).toBe(base.images[1].digest);
    expect(amd.layers.length).toBe(n + 2);
    expect(amd.layers.slice(n).map((l) => l.digest)).toEqual(arm.layers.slice(n).map((l) => l.digest));
    expect(amd.digest).not.toBe(arm.digest);
  });

  it("_push sends the index and both manifests, reports the index digest; skopeo sees both; pull --all-platforms gets both back", async () => {
    const r = await bazel(ws, ["run", ...QUIET, "//app:mp_push"]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toBe(`${reg.host}/e2e/mp@${indexDigest}`);
    const raw = await skopeoRaw(`docker://${reg.host}/e2e/mp:v1`);
    expect(raw.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(raw.manifests!.map((m) => m.digest)).toEqual(built.manifests.map((m) => m.image.digest));
    expect(raw.manifests!.map((m) => m.platform!.architecture)).toEqual(["amd64", "arm64"]);

    const out = join(tmp, "pulled");
    const p = await runCli(["pull", `${reg.host}/e2e/mp:v1`, "--output", out, "--all-platforms"]);
    expect(p.code, p.stderr).toBe(0);
    expect(lastLine(p.stdout)).toBe(`${reg.host}/e2e/mp@${indexDigest}`);
    const back = readLayoutIndex(out, { refName: "v1" })!;
    expect(back.digest).toBe(indexDigest);
    expect(back.manifests.map((m) => m.image.digest)).toEqual(built.manifests.map((m) => m.image.digest));
  });

  it("runc runs the amd64 image of the pushed index", () => {
    const r = runPushedImage(`${reg.host}/e2e/mp@${indexDigest}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("MULTI x64");
  });

  it("_push -- --platform linux/amd64 pushes that platform alone and says it dropped arm64", async () => {
    const r = await bazel(ws, [
      "run",
      ...QUIET,
      "//app:mp_push",
      "--",
      "--platform",
      "linux/amd64",
      "--repository",
      `${reg.host}/e2e/mp-amd64`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("platform linux/arm64/v8 of the image: not pushed (--platform named linux/amd64)");
    const raw = await skopeoRaw(`docker://${reg.host}/e2e/mp-amd64:v1`);
    expect(raw.manifests!.map((m) => m.digest)).toEqual([built.manifests[0].image.digest]);
  });

  it("pipeline run and the _load archive pick this machine's platform from the index", async () => {
    const layout = join(ws, "bazel-bin/app/mp_image");
    const r = await runCli(["run", "--image", `oci:${layout}@${indexDigest}`, "--cache-dir", join(tmp, "cache")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("MULTI x64");
    const t = await bazel(ws, ["build", "--output_groups=tarball", "//app:mp_load"]);
    expect(t.code, t.stderr).toBe(0);
    let config: string | undefined;
    for await (const e of readTarEntries(createReadStream(join(ws, "bazel-bin/app/mp_load.tar")))) {
      if (e.path !== "manifest.json") continue;
      const chunks: Buffer[] = [];
      for await (const c of e.body) chunks.push(c);
      config = JSON.parse(Buffer.concat(chunks).toString("utf8"))[0].Config;
    }
    expect(config).toBe(`blobs/sha256/${built.manifests[0].image.manifest.config.digest.slice(7)}`);
  });

  it("a bad platforms entry fails naming the attribute and the value (pipeline, pipeline_base_image)", async () => {
    const r = await bazel(ws, ["build", "--nobuild", "//bad:all"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'pipeline bad: `platforms` entry should be os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8"). got: "arm64"',
    );
    const b = await bazel(ws, ["build", "--nobuild", "@bad_base//image"]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain(
      'pipeline_base_image(name = "bad_base"): `platforms` entry should be os/arch[/variant] (e.g. "linux/amd64", "linux/arm64/v8"). got: "linux/arm64/v8/x"',
    );
  });
});
