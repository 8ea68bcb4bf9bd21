import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PipelineError } from "./errors";
import { elfNeeded, elfPlatform } from "./elf";

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

/**
 * A minimal dynamic x86-64 executable: one PT_LOAD covering the file, a PT_DYNAMIC whose DT_NEEDED entries name
 * `needed` in a string table at `strtabVaddr` (mapped by the PT_LOAD at vaddr 0x400000).
 */
function dynamicElf(needed: string[], opts: { strtabInLoad?: boolean; phnum?: number } = {}): Buffer {
  const names = Buffer.from(`\0${needed.join("\0")}\0`, "latin1");
  const phoff = 64;
  const dynOff = phoff + 2 * 56;
  const dynSize = (needed.length + 2) * 16;
  const strOff = dynOff + dynSize;
  const file = Buffer.alloc(strOff + names.length);
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2;
  file[5] = 1;
  file.writeUInt16LE(0x3e, 18);
  file.writeBigUInt64LE(BigInt(phoff), 0x20);
  file.writeUInt16LE(56, 0x36);
  file.writeUInt16LE(opts.phnum ?? 2, 0x38);
  // PT_LOAD: offset 0, vaddr 0x400000, filesz = the file.
  file.writeUInt32LE(1, phoff);
  file.writeBigUInt64LE(0x400000n, phoff + 16);
  file.writeBigUInt64LE(BigInt(opts.strtabInLoad === false ? 16 : file.length), phoff + 32);
  // PT_DYNAMIC.
  file.writeUInt32LE(2, phoff + 56);
  file.writeBigUInt64LE(BigInt(dynOff), phoff + 56 + 8);
  file.writeBigUInt64LE(BigInt(dynSize), phoff + 56 + 32);
  let at = dynOff;
  let off = 1;
  for (const n of needed) {
    file.writeBigInt64LE(1n, at);
    file.writeBigUInt64LE(BigInt(off), at + 8);
    off += n.length + 1;
    at += 16;
  }
  file.writeBigInt64LE(5n, at);
  file.writeBigUInt64LE(BigInt(0x400000 + strOff), at + 8);
  names.copy(file, strOff);
  return file;
}

describe("elfNeeded", () => {
  const dir = mkdtempSync(join(tmpdir(), "rp-elf-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, bytes: Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it("reads the DT_NEEDED names through the program headers, in order", () => {
    const p = write("dyn", dynamicElf(["libatomic.so.1", "libstdc++.so.6", "libc.so.6"]));
    expect(elfNeeded(p, "n")).toEqual(["libatomic.so.1", "libstdc++.so.6", "libc.so.6"]);
  });

  it("a static executable (no PT_DYNAMIC) needs nothing", () => {
    const b = dynamicElf([]);
    b.writeUInt16LE(1, 0x38); // the PT_LOAD alone
    expect(elfNeeded(write("static", b), "n")).toEqual([]);
  });

  it("refuses headers that point outside the file or past the bounds, naming the file", () => {
    expect(() => elfNeeded(write("many", dynamicElf(["libc.so.6"], { phnum: 5000 })), "//:node")).toThrow(
      /\/\/:node: 5000 program headers/,
    );
    expect(() => elfNeeded(write("nostr", dynamicElf(["libc.so.6"], { strtabInLoad: false })), "//:node")).toThrow(
      /no string table in a loaded segment/,
    );
    expect(() => elfNeeded(write("text", Buffer.from("#!/bin/sh\nexit 0\n".padEnd(64))), "//:node")).toThrow(
      PipelineError,
    );
  });
});
