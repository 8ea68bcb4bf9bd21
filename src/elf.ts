/** ELF executables: which OCI platform a binary is for, from its header (used by base images and image checks). */
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
