/** ELF executables: which OCI platform a binary is for, from its header (used by base images and image checks). */
import { closeSync, openSync, readSync } from "node:fs";
import { PipelineError } from "./errors";
import type { Platform } from "./oci/types";

/** The OCI platform of an ELF binary, read from its header (so a foreign or non-Linux binary is caught). */
export function elfPlatform(header: Buffer, what: string): Platform {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) {
    throw new PipelineError("E_NOT_ELF", `${what} is not a Linux (ELF) executable`);
  }
  const is64 = header[4] === 2;
  const le = header[5] === 1;
  const machine = le ? header.readUInt16LE(18) : header.readUInt16BE(18);
  switch (machine) {
    case 0x3e:
      return { architecture: "amd64", os: "linux" };
    case 0xb7:
      return { architecture: "arm64", os: "linux", variant: "v8" };
    case 0x28:
      return { architecture: "arm", os: "linux", variant: "v7" };
    case 0x03:
      return { architecture: "386", os: "linux" };
    case 0x15:
      return { architecture: le ? "ppc64le" : "ppc64", os: "linux" };
    case 0x16:
      return { architecture: "s390x", os: "linux" };
    case 0xf3:
      if (is64) return { architecture: "riscv64", os: "linux" };
      break;
    case 0x102:
      return { architecture: "loong64", os: "linux" };
  }
  throw new PipelineError("E_NOT_ELF", `${what}: unsupported ELF machine type 0x${machine.toString(16)}`);
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
/** Bounds on what a header may make us read: an executable's program headers and dynamic section are small. */
const MAX_PHNUM = 256;
const MAX_DYNAMIC_BYTES = 1 << 20;
const MAX_SONAME = 256;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  return buf.subarray(0, readSync(fd, buf, 0, length, offset));
}

/**
 * The shared libraries a 64-bit little-endian ELF executable names (DT_NEEDED: `libstdc++.so.6`, ...), read from its
 * program headers and dynamic section without reading the whole file; [] for a static executable. `what` names the
 * file in errors (E_NOT_ELF: a header that points outside the file or past the bounds above).
 */
export function elfNeeded(file: string, what: string): string[] {
  const fd = openSync(file, "r");
  try {
    const bad = (why: string) => new PipelineError("E_NOT_ELF", `${what}: ${why}`);
    const h = readAt(fd, 0, 64);
    elfPlatform(h, what);
    if (h[4] !== 2 || h[5] !== 1) throw bad("not a 64-bit little-endian ELF executable");
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    if (phnum === 0) return [];
    if (phnum > MAX_PHNUM || phentsize < 56) throw bad(`${phnum} program headers of ${phentsize} bytes`);
    const ph = readAt(fd, phoff, phnum * phentsize);
    if (ph.length < phnum * phentsize) throw bad("its program headers lie past its end");
    const loads: { offset: number; vaddr: number; size: number }[] = [];
    let dynamic: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const p = ph.subarray(i * phentsize);
      const type = p.readUInt32LE(0);
      const offset = Number(p.readBigUInt64LE(8));
      const size = Number(p.readBigUInt64LE(32));
      if (type === PT_LOAD) loads.push({ offset, vaddr: Number(p.readBigUInt64LE(16)), size });
      if (type === PT_DYNAMIC) dynamic = { offset, size };
    }
    if (!dynamic) return [];
    if (dynamic.size > MAX_DYNAMIC_BYTES) throw bad(`a dynamic section of ${dynamic.size} bytes`);
    const dyn = readAt(fd, dynamic.offset, dynamic.size);
    const needed: number[] = [];
    let strtab: number | undefined;
    for (let i = 0; i + 16 <= dyn.length; i += 16) {
      const tag = Number(dyn.readBigInt64LE(i));
      const value = Number(dyn.readBigUInt64LE(i + 8));
      if (tag === 0) break;
      if (tag === DT_NEEDED) needed.push(value);
      if (tag === DT_STRTAB) strtab = value;
    }
    if (!needed.length) return [];
    const seg = strtab === undefined ? undefined : loads.find((l) => strtab! >= l.vaddr && strtab! < l.vaddr + l.size);
    if (!seg || strtab === undefined) throw bad("its dynamic section has no string table in a loaded segment");
    const base = strtab - seg.vaddr + seg.offset;
    return needed.map((off) => {
      const s = readAt(fd, base + off, MAX_SONAME);
      const end = s.indexOf(0);
      if (end <= 0) throw bad(`a needed library's name at string table offset ${off} is empty or too long`);
      return s.subarray(0, end).toString("latin1");
    });
  } finally {
    closeSync(fd);
  }
}
