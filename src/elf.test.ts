import { describe, expect, it } from "vitest";
import { PipelineError } from "./errors";
import { elfPlatform } from "./elf";

describe("elfPlatform", () => {
  const elf = (machine: number, cls = 2, data = 1) => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = cls;
    b[5] = data;
    if (data === 1) b.writeUInt16LE(machine, 18);
    else b.writeUInt16BE(machine, 18);
    return b;
  };
  it("maps ELF machines to OCI platforms", () => {
    expect(elfPlatform(elf(0x3e), "n")).toEqual({ architecture: "amd64", os: "linux" });
    expect(elfPlatform(elf(0xb7), "n")).toEqual({ architecture: "arm64", os: "linux", variant: "v8" });
    expect(elfPlatform(elf(0x28, 1), "n")).toEqual({ architecture: "arm", os: "linux", variant: "v7" });
    expect(elfPlatform(elf(0x15), "n")).toEqual({ architecture: "ppc64le", os: "linux" });
    expect(elfPlatform(elf(0x16, 2, 2), "n")).toEqual({ architecture: "s390x", os: "linux" });
    expect(elfPlatform(elf(0xf3), "n")).toEqual({ architecture: "riscv64", os: "linux" });
  });
  it("refuses non-ELF binaries (e.g. macOS's node) and unknown machines", () => {
    const macho = Buffer.alloc(64);
    macho.writeUInt32LE(0xfeedfacf, 0);
    expect(() => elfPlatform(macho, "/usr/local/bin/node")).toThrow(PipelineError);
    expect(() => elfPlatform(macho, "/usr/local/bin/node")).toThrow(/not a Linux \(ELF\) executable/);
    expect(() => elfPlatform(elf(0x1234), "n")).toThrow(/unsupported ELF machine/);
  });
  it("recognises the running node", async () => {
    const { readFileSync } = await import("node:fs");
    const head = readFileSync(process.execPath).subarray(0, 64);
    const want = { x64: "amd64", arm64: "arm64" }[process.arch as string];
    if (want) expect(elfPlatform(head, process.execPath).architecture).toBe(want);
  });
});
