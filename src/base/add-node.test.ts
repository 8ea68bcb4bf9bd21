import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { composeImage } from "../image/compose";
import { buildLayer, layerFromDescriptor, type LayerInput } from "../layer/build";
import { listLayer } from "../layer/tar-read";
import { readLayout } from "../layout/read";
import { addNodeToBase, extractFile } from "./add-node";

const tmp = mkdtempSync(join(tmpdir(), "rp-add-node-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function imageOf(...layers: LayerInput[][]) {
  const built = [];
  for (const files of layers) {
    const p = join(tmp, `l${n++}.tar.gz`);
    built.push({ layer: layerFromDescriptor(p, await buildLayer(files, p)), createdBy: "test" });
  }
  return composeImage({ layers: built, env: { PATH: "/usr/bin:/bin" } });
}

const file = (dest: string, text: string): LayerInput => ({ dest, content: Buffer.from(text), mode: 0o755 });

describe("extractFile", () => {
  test("the topmost layer's copy wins", async () => {
    const img = await imageOf([file("/usr/local/bin/node", "old")], [file("/usr/local/bin/node", "new")]);
    const out = join(tmp, "a");
    await extractFile(img, "/usr/local/bin/node", out);
    expect(readFileSync(out, "utf8")).toBe("new");
  });

  test("symlinks are followed, relative and absolute", async () => {
    const img = await imageOf([
      file("/opt/node/bin/node", "real"),
      { dest: "/usr/local/bin/node", symlink: "../../../opt/node/bin/node" },
    ]);
    const out = join(tmp, "b");
    await extractFile(img, "usr/local/bin/node", out);
    expect(readFileSync(out, "utf8")).toBe("real");
  });

  test("a whiteout in a later layer hides the file below it", async () => {
    const img = await imageOf([file("/usr/local/bin/node", "gone")], [file("/usr/local/bin/.wh.node", "")]);
    await expect(extractFile(img, "/usr/local/bin/node", join(tmp, "c"))).rejects.toThrow(
      /has no \/usr\/local\/bin\/node/,
    );
  });

  test("an image without node is a clear error", async () => {
    const img = await imageOf([file("/bin/sh", "sh")]);
    await expect(extractFile(img, "/usr/local/bin/node", join(tmp, "d"))).rejects.toThrow(
      /has no \/usr\/local\/bin\/node/,
    );
  });
});

test("addNodeToBase keeps the base's layers and config, adds node as the top layer and /usr/local/bin to PATH", async () => {
  const base = await imageOf([file("/lib/libc.so", "libc")]);
  const node = await imageOf([file("/usr/local/bin/node", "NODE")]);
  const out = join(tmp, "out");
  const { digest } = await addNodeToBase(base, node, out, { nodeName: "example/node@sha256:x" });
  const img = readLayout(out);
  expect(img.digest).toBe(digest);
  expect(img.manifest.layers.slice(0, 1)).toEqual(base.manifest.layers);
  expect(img.config.config?.Env).toContain("PATH=/usr/local/bin:/usr/bin:/bin");
  expect(img.config.config?.Labels?.["rules_pipeline.node.from"]).toBe("example/node@sha256:x");
  const top = await listLayer(img.layers[1].path!);
  expect(top.filter((e) => e.type === "file").map((e) => [e.path, e.mode])).toEqual([["usr/local/bin/node", 0o755]]);
});

test("base add-node --platform: each platform's base plus that platform's node, under one index", async () => {
  const { addNode } = await import("../cli/commands/base.js");
  const { composeIndex } = await import("../image/image-index.js");
  const { writeLayout } = await import("../layout/write.js");
  const { readLayoutIndex } = await import("../layout/read.js");
  const forArch = async (architecture: string, files: LayerInput[]) => {
    const p = join(tmp, `p${n++}.tar.gz`);
    return composeImage({
      layers: [{ layer: layerFromDescriptor(p, await buildLayer(files, p)), createdBy: "test" }],
      env: { PATH: "/usr/bin" },
      architecture,
    });
  };
  const baseDir = join(tmp, "base-index");
  const nodeDir = join(tmp, "node-index");
  await writeLayout(
    baseDir,
    composeIndex([
      await forArch("amd64", [file("/lib/libc.so", "libc-amd64")]),
      await forArch("arm64", [file("/lib/libc.so", "libc-arm64")]),
    ]),
  );
  await writeLayout(
    nodeDir,
    composeIndex([
      await forArch("arm64", [file("/usr/local/bin/node", "NODE-arm64")]),
      await forArch("amd64", [file("/usr/local/bin/node", "NODE-amd64")]),
    ]),
  );
  const out = join(tmp, "added-index");
  const lines: string[] = [];
  const io = {
    stdout: (l: string) => lines.push(l),
    stderr: () => undefined,
    env: {},
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  };
  await addNode({ base: baseDir, node: nodeDir, output: out, platform: ["linux/amd64,linux/arm64"] }, io);
  const idx = readLayoutIndex(out)!;
  expect(lines).toEqual([idx.digest]);
  expect(idx.manifests.map((m) => m.image.config.architecture)).toEqual(["amd64", "arm64"]);
  for (const { image } of idx.manifests) {
    const arch = image.config.architecture;
    const node = join(tmp, `node-${arch}`);
    await extractFile(image, "/usr/local/bin/node", node);
    expect(readFileSync(node, "utf8")).toBe(`NODE-${arch}`);
    const libc = join(tmp, `libc-${arch}`);
    await extractFile(image, "/lib/libc.so", libc);
    expect(readFileSync(libc, "utf8")).toBe(`libc-${arch}`);
  }
});
