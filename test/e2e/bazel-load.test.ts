/**
 * NAME_load (like rules_oci's oci_load), end to end with real Bazel and podman (runc underneath): the docker archive
 * in output group `tarball` is loaded by `podman load` into a store of its own and runs; `bazel run NAME_load --
 * --loader podman` loads the same image into that store under the default tag, and under `--tag`. podman's store and
 * settings come from CONTAINERS_STORAGE_CONF / CONTAINERS_CONF, which the loader passes through.
 */
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readTarEntries } from "../../src/layer/tar-read";
import { bazel, QUIET } from "../fixtures/bazel";
import { execProgram } from "../fixtures/cli";
import { mountsUnder } from "../fixtures/runner";
import { onPath } from "../../src/container/engine-cli";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const TAG = "localhost:5000/examples/hello:latest";
const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-load-"));
let ws: string;
let borrowed: Borrowed | undefined;
let env: Record<string, string>;
/** A Docker API (`podman system service`) on a store of its own, for the docker CLI. */
let service: ChildProcess | undefined;
const dockerStore = () => ["--root", join(tmp, "dstore/root"), "--runroot", join(tmp, "dstore/run")];

const podman = (...args: string[]) => execProgram("podman", args, { env: { ...process.env, ...env } });

async function archiveManifest(tarball: string): Promise<{ Config: string; RepoTags: string[]; Layers: string[] }[]> {
  for await (const e of readTarEntries(createReadStream(tarball))) {
    if (e.path !== "manifest.json") continue;
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  }
  throw new Error(`${tarball} has no manifest.json`);
}

/** The config digest podman gives `ref` (its image ID), or undefined when it has no such image. */
async function imageId(ref: string): Promise<string | undefined> {
  const r = await podman("image", "inspect", "--format", "{{.Id}}", ref);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

beforeAll(() => {
  borrowed = borrowConsumerWorkspace();
  ws = borrowed.ws;
  // Two images (`bases`); the same base twice keeps the build small: their shared layers go into the archive once.
  mkdirSync(join(ws, "examples/multi"), { recursive: true });
  writeFileSync(join(ws, "examples/multi/main.ts"), 'console.log("MULTI");\n');
  writeFileSync(
    join(ws, "examples/multi/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
pipeline(
    name = "multi",
    entry = "main.ts",
    registry = "localhost:5000",
    repository = "examples/multi",
    bases = {"default": "@pipeline-host-node//image", "alt": "@pipeline-host-node//image"},
)
`,
  );
  writeFileSync(
    join(tmp, "storage.conf"),
    `[storage]\ndriver = "overlay"\ngraphroot = "${tmp}/store/root"\nrunroot = "${tmp}/store/run"\n`,
  );
  writeFileSync(
    join(tmp, "containers.conf"),
    `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\nevents_logger = "none"\n`,
  );
  env = { CONTAINERS_STORAGE_CONF: join(tmp, "storage.conf"), CONTAINERS_CONF: join(tmp, "containers.conf") };
});

afterAll(async () => {
  await borrowed?.release();
  await podman("rmi", "--all", "--force");
  if (service) {
    service.kill("SIGTERM");
    await new Promise((r) => service!.once("close", r));
    await podman(...dockerStore(), "rmi", "--all", "--force");
  }
  // podman's overlay driver bind-mounts <root>/overlay on itself; unmount before removing.
  for (const m of mountsUnder(tmp).reverse()) await execProgram("umount", [m.split(" ")[1]]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("hello_load", () => {
  let configId = "";

  test("output group tarball is a docker archive that podman (own store) loads and runs", async () => {
    const r = await bazel(ws, [
      "build",
      "--output_groups=tarball",
      "//examples/hello:hello_load",
      "//examples/hello:hello_image",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const tarball = join(ws, "bazel-bin/examples/hello/hello_load.tar");
    const manifest = await archiveManifest(tarball);
    // The image of hello_image, tagged registry/repository:latest.
    const layout = join(ws, "bazel-bin/examples/hello/hello_image");
    const digest = readFileSync(join(ws, "bazel-bin/examples/hello/hello_image.digest"), "utf8").trim();
    const ociManifest = JSON.parse(readFileSync(join(layout, "blobs/sha256", digest.slice(7)), "utf8"));
    expect(
      createHash("sha256")
        .update(readFileSync(join(layout, "blobs/sha256", digest.slice(7))))
        .digest("hex"),
    ).toBe(digest.slice(7));
    expect(manifest).toEqual([
      {
        Config: `blobs/sha256/${ociManifest.config.digest.slice(7)}`,
        RepoTags: [TAG],
        Layers: ociManifest.layers.map((l: { digest: string }) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);

    const load = await podman("load", "-i", tarball);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toContain(`Loaded image: ${TAG}`);
    configId = (await imageId(TAG))!;
    expect(`sha256:${configId}`).toBe(ociManifest.config.digest);

    const run = await podman("run", "--rm", "--network", "none", TAG, "1", "2");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("HELLO FROM A PIPELINE");
    expect(run.stdout).toContain('args: ["1","2"] sum: 3');
  });

  test("bazel run hello_load -- --loader podman loads it as registry/repository:latest, and --tag replaces the tag", async () => {
    expect(configId).not.toBe("");
    await podman("rmi", "--force", TAG);
    expect(await imageId(TAG)).toBeUndefined();

    const r = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_load", "--", "--loader", "podman"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([TAG]);
    expect(await imageId(TAG)).toBe(configId);

    const t = await bazel(
      ws,
      [
        "run",
        ...QUIET,
        "//examples/hello:hello_load",
        "--",
        "--loader",
        "podman",
        "--tag",
        "e2e",
        "--tag",
        "example.com/other:v1",
      ],
      env,
    );
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout.trim().split("\n")).toEqual(["localhost:5000/examples/hello:e2e", "example.com/other:v1"]);
    expect(await imageId("localhost:5000/examples/hello:e2e")).toBe(configId);
    expect(await imageId("example.com/other:v1")).toBe(configId);

    const bad = await bazel(
      ws,
      ["run", ...QUIET, "//examples/hello:hello_load", "--", "--loader", "podman", "--tag", "localhost:5000/x"],
      env,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--tag: expected REGISTRY\/REPOSITORY:TAG/);
  });

  test("pipeline_load with a repo_tags entry that has no tag fails at analysis, naming the attribute and the value", async () => {
    // In hello's package (hello_image is not public), restored afterwards.
    const build = join(ws, "examples/hello/BUILD.bazel");
    const original = readFileSync(build, "utf8");
    writeFileSync(
      build,
      `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_load")\n${original}\npipeline_load(name = "bad_load", images = {":hello_image": "default"}, repo_tags = ["localhost:5000/x"])\n`,
    );
    const r = await bazel(ws, ["build", "//examples/hello:bad_load"]).finally(() => writeFileSync(build, original));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '`repo_tags` entry should be REGISTRY/REPOSITORY:TAG (a tag, no digest). got: "localhost:5000/x"',
    );
  });

  test("with `bases`, NAME_load's archive holds every image: the main one as TAG, image N as TAG-N", async () => {
    const r = await bazel(ws, ["build", "--output_groups=tarball", "//examples/multi:multi_load"]);
    expect(r.code, r.stderr).toBe(0);
    const tarball = join(ws, "bazel-bin/examples/multi/multi_load.tar");
    const manifest = await archiveManifest(tarball);
    expect(manifest.map((m) => m.RepoTags)).toEqual([
      ["localhost:5000/examples/multi:latest"],
      ["localhost:5000/examples/multi:latest-alt"],
    ]);
    const load = await podman("load", "-i", tarball);
    expect(load.code, load.stderr).toBe(0);
    for (const tag of ["localhost:5000/examples/multi:latest", "localhost:5000/examples/multi:latest-alt"]) {
      expect(await imageId(tag), tag).toBe(manifest[0].Config.split("/").pop());
      const run = await podman("run", "--rm", "--network", "none", tag);
      expect(run.stdout, run.stderr).toContain("MULTI");
    }
  });

  test.skipIf(!onPath("docker"))(
    "--loader auto: podman when no docker daemon answers, docker (the CLI, on a Docker API) when one does",
    async () => {
      expect(configId).not.toBe("");
      const none = { ...env, DOCKER_HOST: `unix://${join(tmp, "no-daemon.sock")}` };
      const p = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_load", "--", "--tag", "auto-podman"], none);
      expect(p.code, p.stderr).toBe(0);
      expect(await imageId("localhost:5000/examples/hello:auto-podman")).toBe(configId);

      const sock = join(tmp, "docker.sock");
      service = spawn("podman", [...dockerStore(), "system", "service", "--time=0", `unix://${sock}`], {
        stdio: "ignore",
        env: { ...process.env, CONTAINERS_CONF: env.CONTAINERS_CONF },
      });
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
      const docker = { ...env, DOCKER_HOST: `unix://${sock}` };
      const d = await bazel(ws, ["run", ...QUIET, "//examples/hello:hello_load", "--", "--tag", "via-docker"], docker);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout.trim()).toBe("localhost:5000/examples/hello:via-docker");
      // In the daemon's store, not in the podman store CONTAINERS_STORAGE_CONF names.
      const inspect = await execProgram(
        "docker",
        ["image", "inspect", "--format", "{{.Id}}", "localhost:5000/examples/hello:via-docker"],
        {
          env: { ...process.env, ...docker },
        },
      );
      expect(inspect.code, inspect.stderr).toBe(0);
      expect(inspect.stdout.trim().replace(/^sha256:/, "")).toBe(configId);
      expect(await imageId("localhost:5000/examples/hello:via-docker")).toBeUndefined();
    },
  );
});
