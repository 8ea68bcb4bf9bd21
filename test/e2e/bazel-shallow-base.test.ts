/**
 * Shallow bases (issue #61, first increment) end to end, on the real CNCF registry and Bazel 4.2.3: a small generated
 * base (3 random layers) pushed to `bases/rand`; `pipeline_base_image(layer_handling = "shallow")` fetches its
 * manifest and config only, and `NAME_image` on it holds none of the base's layers, records where they are
 * (pipeline-remote-blobs.json) and has the same manifest digest as the same pipeline on the eager base (the
 * differential). `_push` to another repository of the same registry downloads and uploads none of the base's layers
 * (it mounts them: the registry's access log counts the requests); the pushed image pulls whole, by that digest. A
 * base whose repository lost its layers fails the push naming the layer, the base and where it was looked for, and
 * puts no manifest or tag. `bazel run _load` fetches the base's layers into the cache on first need (once: the next
 * load asks the registry for none) and podman loads the image; the `tarball` output group fetches them from the
 * registry into the archive (the same blobs as the eager twin's).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeImage } from "../../src/image/compose";
import { buildLayer, layerFromDescriptor } from "../../src/layer/build";
import { readLayout } from "../../src/layout/read";
import { REMOTE_BLOBS_FILE, readRemoteBlobs } from "../../src/layout/remote";
import { type Digest, digestHex } from "../../src/oci/digest";
import { pushImage } from "../../src/registry/push";
import { bazel, QUIET } from "../fixtures/bazel";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

import { execProgram, runCli } from "../fixtures/cli";
import { randomImage } from "../fixtures/random-image";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-shallow-"));
let reg: RunningRegistry;
let ws: string;
let borrowed: Borrowed | undefined;
let baseDigest: Digest;
let baseLayers: Digest[];
/** The layers of the host-node base (a Node that runs), pushed to `bases/hostnode`. */
let hostLayers: Digest[];

const lastLine = (s: string) => s.trim().split("\n").pop()!;
/** Requests since `from` (an access-log index) that touch one of `digests`' blobs, as "METHOD path status". */
const blobRequests = (from: number, digests: Digest[]) =>
  reg
    .requests()
    .slice(from)
    .filter((r) => digests.some((d) => r.path.includes(digestHex(d)))) // an upload's ?digest= is escaped
    .map((r) => `${r.method} ${r.path} ${r.status}`);

beforeAll(async () => {
  reg = await startRegistry();
  const base = randomImage({ layers: 3, layerSize: 256 * 1024 });
  baseDigest = base.digest;
  baseLayers = base.layers.map((l) => l.digest);
  await pushImage(base, { registry: reg.host, repository: "bases/rand" });
  // A stand-in for the Node image pipeline_node_on_base takes /usr/local/bin/node from (the worker-cuda rule).
  writeFileSync(join(tmp, "node-bin"), randomBytes(8192));
  const nodeTar = join(tmp, "node.tar.gz");
  const desc = await buildLayer([{ dest: "/usr/local/bin/node", src: join(tmp, "node-bin"), mode: 0o755 }], nodeTar, {
    mtime: 0,
  });
  const nodeImage = composeImage({ layers: [{ layer: layerFromDescriptor(nodeTar, desc), createdBy: "node" }] });
  const nodeDigest = (await pushImage(nodeImage, { registry: reg.host, repository: "bases/node" })).digest;
  const cuda = (name: string, handling: string) => `
pipeline_node_on_base(
    name = "${name}",
    registry = "${reg.host}",
    repository = "bases/rand",
    digest = "${base.digest}",
    node_registry = "${reg.host}",
    node_repository = "bases/node",
    node_digest = "${nodeDigest}",
    layer_handling = "${handling}",
)`;
  // A base with a Node that runs (the host's, with its shared libraries: src/base/host-node.ts), for the run below.
  const hostBase = join(tmp, "host-node");
  const made = await runCli(["base", "host-node", "--output", hostBase]);
  if (made.code !== 0) throw new Error(`pipeline base host-node: ${made.stderr}`);
  const hostImage = readLayout(hostBase);
  hostLayers = hostImage.layers.map((l) => l.digest);
  const hostDigest = (await pushImage(hostImage, { registry: reg.host, repository: "bases/hostnode" })).digest;
  const spec = (name: string, handling: string, repository = "bases/rand", digest: string = base.digest) => `
pipeline_base_image(
    name = "${name}",
    registry = "${reg.host}",
    repository = "${repository}",
    digest = "${digest}",
    layer_handling = "${handling}",
)`;
  borrowed = borrowConsumerWorkspace(
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image", "pipeline_node_on_base")
${spec("shallow_base", "shallow")}
${cuda("shallow_cuda", "shallow")}
${cuda("eager_cuda", "eager")}
${spec("eager_base", "eager")}
${spec("bad_base", "lazy")}
${spec("node_shallow", "shallow", "bases/hostnode", hostDigest)}
`,
  );
  ws = borrowed.ws;
  mkdirSync(join(ws, "app"), { recursive: true });
  writeFileSync(join(ws, "app/main.ts"), "console.log('SHALLOW');\n");
  const pipeline = (name: string, base: string) => `pipeline(
    name = "${name}",
    entry = "main.ts",
    registry = "${reg.host}",
    repository = "e2e/${name}",
    base = "${base}",
    tags_to_push = ["v1"],
)
`;
  writeFileSync(
    join(ws, "app/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
${pipeline("shallow", "@shallow_base//image")}
${pipeline("eager", "@eager_base//image")}
${pipeline("bad", "@bad_base//image")}
${pipeline("gpu_shallow", "@shallow_cuda//image")}
${pipeline("gpu_eager", "@eager_cuda//image")}
${pipeline("runs", "@node_shallow//image")}`,
  );
});

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('pipeline_base_image(layer_handling = "shallow")', () => {
  let shallowDigest: string;

  it("fetching the base and building the image download none of its layers; the image holds none of them", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["build", "//app:shallow_image"]);
    expect(r.code, r.stderr).toBe(0);
    expect(blobRequests(from, baseLayers)).toEqual([]);
    // Something was fetched from the registry: the manifest and the config.
    expect(
      reg
        .requests()
        .slice(from)
        .some((r) => r.path === `/v2/bases/rand/manifests/${baseDigest}`),
    ).toBe(true);

    const layout = join(ws, "bazel-bin/app/shallow_image");
    const blobs = readdirSync(join(layout, "blobs/sha256"));
    for (const d of baseLayers) expect(blobs).not.toContain(digestHex(d));
    const record = readRemoteBlobs(layout);
    expect([...record.keys()].sort()).toEqual([...baseLayers].sort());
    for (const b of record.values()) expect(b.sources).toEqual([`${reg.host}/bases/rand@${baseDigest}`]);
    const image = readLayout(layout);
    shallowDigest = image.digest;
    expect(readFileSync(join(ws, "bazel-bin/app/shallow_image.digest"), "utf8").trim()).toBe(shallowDigest);
    expect(image.layers.slice(0, 3).map((l) => l.digest)).toEqual(baseLayers);
    expect(image.layers.slice(0, 3).every((l) => l.path === undefined)).toBe(true);
  });

  it("has the same manifest digest as the image on the eager base, which holds the layers (differential)", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["build", "//app:eager_image"]);
    expect(r.code, r.stderr).toBe(0);
    // The eager base downloads each layer once: what the shallow build's count of none is measured against.
    expect(blobRequests(from, baseLayers).filter((t) => t.startsWith("GET "))).toHaveLength(3);
    const layout = join(ws, "bazel-bin/app/eager_image");
    expect(readLayout(layout).digest).toBe(shallowDigest);
    expect(existsSync(join(layout, REMOTE_BLOBS_FILE))).toBe(false);
    for (const d of baseLayers) expect(existsSync(join(layout, "blobs/sha256", digestHex(d)))).toBe(true);
  });

  it("pipeline_node_on_base (the worker-cuda rule) on a shallow base: node added, no base layer downloaded, the eager twin's digest", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["build", "//app:gpu_shallow_image"]);
    expect(r.code, r.stderr).toBe(0);
    expect(blobRequests(from, baseLayers)).toEqual([]);
    const layout = join(ws, "bazel-bin/app/gpu_shallow_image");
    const image = readLayout(layout);
    expect(image.layers.slice(0, 3).map((l) => l.digest)).toEqual(baseLayers);
    expect(image.layers.slice(0, 3).every((l) => l.path === undefined)).toBe(true);
    expect(readdirSync(join(layout, "blobs/sha256"))).toContain(digestHex(image.layers[3].digest)); // node's layer
    expect([...readRemoteBlobs(layout).keys()].sort()).toEqual([...baseLayers].sort());
    const eager = await bazel(ws, ["build", "//app:gpu_eager_image"]);
    expect(eager.code, eager.stderr).toBe(0);
    expect(readLayout(join(ws, "bazel-bin/app/gpu_eager_image")).digest).toBe(image.digest);
  });

  it("NAME_image_full: the layout whole (each base layer fetched once, verified), same bytes, the eager twin's digest", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["build", "//app:shallow_image_full"]);
    expect(r.code, r.stderr).toBe(0);
    // The shallow image's base layers, each once.
    const gets = blobRequests(from, baseLayers).filter((t) => t.startsWith("GET "));
    expect(gets.sort()).toEqual(baseLayers.map((d) => `GET /v2/bases/rand/blobs/${d} 200`).sort());
    // The eager image's _full, apart (two pipelines of one package with one entry conflict in one build): no request.
    const beforeEager = reg.requests().length;
    const e = await bazel(ws, ["build", "//app:eager_image_full"]);
    expect(e.code, e.stderr).toBe(0);
    expect(reg.requests().length).toBe(beforeEager);
    const shallow = join(ws, "bazel-bin/app/shallow_image");
    const full = join(ws, "bazel-bin/app/shallow_image_full");
    expect(readFileSync(join(full, "index.json"))).toEqual(readFileSync(join(shallow, "index.json")));
    const image = readLayout(full);
    expect(image.manifestBytes).toEqual(readLayout(shallow).manifestBytes);
    // The eager twin (built by the differential case above) holds the same image.
    const eager = join(ws, "bazel-bin/app/eager_image");
    expect(image.digest).toBe(readLayout(eager).digest);
    expect(existsSync(join(full, REMOTE_BLOBS_FILE))).toBe(false);
    const blobs = readdirSync(join(full, "blobs/sha256")).sort();
    expect(blobs).toEqual(readdirSync(join(eager, "blobs/sha256")).sort());
    for (const d of baseLayers) expect(blobs).toContain(digestHex(d));
    expect(readFileSync(join(ws, "bazel-bin/app/eager_image_full/index.json"))).toEqual(
      readFileSync(join(eager, "index.json")),
    );
    expect(readdirSync(join(ws, "bazel-bin/app/eager_image_full/blobs/sha256")).sort()).toEqual(blobs);
    for (const b of blobs)
      expect(
        createHash("sha256")
          .update(readFileSync(join(full, "blobs/sha256", b)))
          .digest("hex"),
      ).toBe(b);
    // `manual`, like the rest of the macro's internal targets: `bazel build //...` does not fetch the base's layers.
    const q = await bazel(ws, ["query", "attr(tags, manual, //app:shallow_image_full + //app:eager_image_full)"]);
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim().split("\n").sort()).toEqual(["//app:eager_image_full", "//app:shallow_image_full"]);
  });

  it("_push to another repository mounts the base's layers: none downloaded or uploaded; the image pulls whole", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["run", ...QUIET, "//app:shallow_push"]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toBe(`${reg.host}/e2e/shallow@${shallowDigest}`);
    const touched = blobRequests(from, baseLayers);
    expect(touched.filter((t) => t.startsWith("GET ") || t.startsWith("PATCH ") || t.startsWith("PUT "))).toEqual([]);
    const mounts = reg
      .requests()
      .slice(from)
      .filter((q) => q.method === "POST" && q.path.includes("mount=") && q.status === 201);
    expect(mounts.length).toBe(3);

    const out = join(tmp, "pulled");
    const p = await runCli(["pull", `${reg.host}/e2e/shallow:v1`, "--output", out]);
    expect(p.code, p.stderr).toBe(0);
    expect(lastLine(p.stdout)).toBe(`${reg.host}/e2e/shallow@${shallowDigest}`);
    const pulled = readLayout(out, { refName: "v1" });
    expect(pulled.digest).toBe(shallowDigest);
    for (const d of baseLayers) expect(existsSync(join(out, "blobs/sha256", digestHex(d)))).toBe(true);
  });

  it("on a shallow base with a Node that runs: `_push` to another repository neither downloads nor uploads a base layer, and the pushed image runs (runc)", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["run", ...QUIET, "//app:runs_push"]);
    expect(r.code, r.stderr).toBe(0);
    const ref = lastLine(r.stdout);
    expect(ref).toMatch(new RegExp(`^${reg.host}/e2e/runs@sha256:[0-9a-f]{64}$`));
    expect(blobRequests(from, hostLayers).filter((t) => /^(GET|PATCH|PUT) /.test(t))).toEqual([]);
    expect(existsSync(join(ws, "bazel-bin/app/runs_image", REMOTE_BLOBS_FILE))).toBe(true);
    const run = await runCli(["run", "--image", ref, "--cache-dir", join(tmp, "run-cache")]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("SHALLOW");
  });

  it("the tarball output group fetches the base's layers from its registry into the archive: the same blobs as the eager twin's", async () => {
    const from = reg.requests().length;
    const r = await bazel(ws, ["build", "--output_groups=tarball", "//app:shallow_load"]);
    expect(r.code, r.stderr).toBe(0);
    // Each base layer read once from the base's repository.
    const gets = blobRequests(from, baseLayers).filter((t) => t.startsWith("GET "));
    expect(gets.sort()).toEqual(baseLayers.map((d) => `GET /v2/bases/rand/blobs/${d} 200`).sort());
    // The eager twin's archive, apart (two pipelines of one package with one entry conflict in one build).
    const e = await bazel(ws, ["build", "--output_groups=tarball", "//app:eager_load"]);
    expect(e.code, e.stderr).toBe(0);
    const tar = (...args: string[]) => {
      const t = spawnSync("tar", args, { maxBuffer: 256 * 1024 * 1024 });
      expect(t.status, t.stderr.toString()).toBe(0);
      return t.stdout;
    };
    const blobsOf = (name: string) =>
      tar("-tf", join(ws, `bazel-bin/app/${name}_load.tar`))
        .toString()
        .split("\n")
        .filter((l) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(l))
        .sort();
    const shallowBlobs = blobsOf("shallow");
    expect(shallowBlobs).toEqual(blobsOf("eager"));
    // Each base layer is in the archive, and its bytes hash to its name.
    for (const d of baseLayers) {
      const member = `blobs/sha256/${digestHex(d)}`;
      expect(shallowBlobs).toContain(member);
      const bytes = tar("-xOf", join(ws, "bazel-bin/app/shallow_load.tar"), member);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(digestHex(d));
    }
  });

  it("bazel run _load fetches the base's layers into the cache on first need, then loads; the next load fetches none", async () => {
    // podman with a store of its own (vfs: no mounts to undo), and a cache of the test's own.
    const store = join(tmp, "podman");
    mkdirSync(store, { recursive: true });
    writeFileSync(
      join(store, "storage.conf"),
      `[storage]\ndriver = "vfs"\ngraphroot = "${store}/root"\nrunroot = "${store}/run"\n`,
    );
    const env = { CONTAINERS_STORAGE_CONF: join(store, "storage.conf"), PIPELINE_CACHE_DIR: join(tmp, "cache") };
    const tag = `${reg.host}/e2e/shallow:loaded`;
    const load = () =>
      bazel(ws, ["run", ...QUIET, "//app:shallow_load", "--", "--loader", "podman", "--tag", tag], env);
    try {
      const from = reg.requests().length;
      const r = await load();
      expect(r.code, r.stderr).toBe(0);
      expect(lastLine(r.stdout)).toBe(tag);
      // Each base layer downloaded once, by digest, from the base's repository, into the cache.
      expect(blobRequests(from, baseLayers)).toEqual(
        baseLayers.flatMap((d) => [`HEAD /v2/bases/rand/blobs/${d} 200`, `GET /v2/bases/rand/blobs/${d} 200`]),
      );
      for (const d of baseLayers) expect(existsSync(join(tmp, "cache/blobs", digestHex(d)))).toBe(true);
      const shallow = readLayout(join(ws, "bazel-bin/app/shallow_image"));
      const id = await execProgram("podman", ["image", "inspect", "--format", "{{.Id}}", tag], {
        env: { ...process.env, ...env },
      });
      expect(id.code, id.stderr).toBe(0);
      expect(`sha256:${id.stdout.trim()}`).toBe(shallow.configBlob.digest);

      const again = reg.requests().length;
      const r2 = await load();
      expect(r2.code, r2.stderr).toBe(0);
      expect(blobRequests(again, baseLayers)).toEqual([]);
    } finally {
      await execProgram("podman", ["rmi", "--all", "--force"], { env: { ...process.env, ...env } });
    }
  });

  it("a base layer no source has fails the push naming layer, base and where; nothing is tagged", async () => {
    // The base's repository loses the link to its first layer (the registry's own storage: as if deleted).
    const link = join(
      reg.dir,
      "data/docker/registry/v2/repositories/bases/rand/_layers/sha256",
      digestHex(baseLayers[0]),
    );
    rmSync(link, { recursive: true, force: true });
    const r = await bazel(ws, ["run", ...QUIET, "//app:shallow_push", "--", "--repository", `${reg.host}/e2e/gone`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("E_BASE_LAYER_MISSING");
    expect(r.stderr).toContain(baseLayers[0]);
    expect(r.stderr).toContain(`${reg.host}/bases/rand@${baseDigest}`);
    expect(r.stderr).toContain(`asked ${reg.host}/bases/rand (not found)`);
    const tag = await fetch(`http://${reg.host}/v2/e2e/gone/manifests/v1`, { method: "HEAD" });
    expect(tag.status).toBe(404);
    const byDigest = await fetch(`http://${reg.host}/v2/e2e/gone/manifests/${shallowDigest}`, { method: "HEAD" });
    expect(byDigest.status).toBe(404);
  });

  it("a layer_handling other than eager or shallow fails naming the attribute and the value", async () => {
    const r = await bazel(ws, ["build", "//app:bad_image"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pipeline_base_image(name = "bad_base"): `layer_handling` must be one of');
    expect(r.stderr).toContain('got "lazy"');
  });
});
