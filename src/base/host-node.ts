/**
 * A base image made from the build host's Node.js: the node binary at /usr/local/bin/node, every shared
 * library `ldd` lists (at the path it has on the host, with the symlinks the loader goes through), a
 * minimal /etc (passwd, group, nsswitch.conf, CA bundle if the host has one), /tmp, /root and /home/node.
 *
 * Not hermetic: the result depends on the host's node and libc. It is reproducible on one host (same
 * files in, same digest out) and stands in for node:20-slim where registries cannot be reached.
 */
import { execFile } from "node:child_process";
import type { Digest } from "../oci/digest";
import { promises as fsp } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import { PipelineError } from "../errors";
import { composeImage } from "../image/compose";
import { buildLayer, type LayerDescriptor, layerFromDescriptor, type LayerInput, resolveMtime } from "../layer/build";
import type { Platform } from "../oci/types";
import { elfPlatform } from "../elf";
import { writeLayout } from "../layout/write";
import { targetExists } from "../fs-exists";

const execFileP = promisify(execFile);

/** The config label that records the base's Node version (`v20.20.2`). */
export const HOST_NODE_VERSION_LABEL = "rules_pipeline.node.version";

export interface HostNodeBaseOptions {
  /** The node binary to use. Default: the one running this process (process.execPath). */
  nodePath?: string;
  /** Seconds since the epoch for file mtimes and `created`. Default SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
}

export const HOST_NODE_PATH = "/usr/local/bin/node";
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const HOST_NODE_DESCRIPTION = "Node.js from the build host; not hermetic";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

const PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n";
const GROUP = "root:x:0:\nnode:x:1000:\n";
// Without this file glibc asks DNS before /etc/hosts ("dns [!UNAVAIL=return] files"), so even
// "localhost" would go to a resolver first.
const NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

function baseError(message: string, cause?: unknown): PipelineError {
  return new PipelineError("E_HOST_NODE", message, cause !== undefined ? { cause } : undefined);
}

/** The absolute library paths in `ldd` output (the vDSO has none and is skipped). Throws on "not found". */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    const arrow = /^(\S+)\s+=>\s+(.*)$/.exec(t);
    if (arrow) {
      if (/^not found/.test(arrow[2]))
        throw baseError(`ldd: shared library ${arrow[1]} of the node binary is not found on this host`);
      const m = /^(\/\S+)\s+\(0x[0-9a-fA-F]+\)$/.exec(arrow[2]) ?? /^(\/\S+)$/.exec(arrow[2]);
      if (m) paths.push(m[1]);
      continue;
    }
    const direct = /^(\/\S+)\s+\(0x[0-9a-fA-F]+\)$/.exec(t);
    if (direct) paths.push(direct[1]);
  }
  return [...new Set(paths)];
}

/**
 * Layer inputs that recreate `absPath` from `root` (the host's "/"): every symlink met on the way (a
 * directory like /lib -> usr/lib, or a file like /lib64/ld-linux-x86-64.so.2 -> /lib/...) becomes the same
 * symlink in the image, and the file finally reached is copied. So the loader finds the same names in
 * the image as on the host.
 */
export async function hostPathInputs(absPath: string, root = "/", depth = 0): Promise<LayerInput[]> {
  if (depth > 40) throw baseError(`too many levels of symlinks resolving ${absPath}`);
  const parts = absPath.split("/").filter((p) => p !== "" && p !== ".");
  const out: LayerInput[] = [];
  let cur = "";
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === "..") {
      cur = posix.dirname(`/${cur}`).slice(1);
      continue;
    }
    const next = cur === "" ? parts[i] : `${cur}/${parts[i]}`;
    const onHost = join(root, next);
    let st;
    try {
      st = await fsp.lstat(onHost);
    } catch (e) {
      throw baseError(`cannot read ${onHost}: ${(e as Error).message}`, e);
    }
    if (st.isSymbolicLink()) {
      const target = await fsp.readlink(onHost);
      out.push({ dest: `/${next}`, symlink: target });
      const resolved = posix.resolve("/", cur, target, ...parts.slice(i + 1));
      out.push(...(await hostPathInputs(resolved, root, depth + 1)));
      return out;
    }
    if (i < parts.length - 1) {
      if (!st.isDirectory()) throw baseError(`${onHost} is not a directory (resolving ${absPath})`);
    } else if (st.isFile()) {
      out.push({ dest: `/${next}`, src: onHost });
    } else if (!st.isDirectory()) {
      throw baseError(`${onHost} is neither a file nor a directory`);
    }
    cur = next;
  }
  return out;
}

/** Shared libraries the binary needs, as `ldd` lists them. */
export async function lddLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileP("ldd", [binary], { maxBuffer: 1 << 20 }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    const text = `${err.stdout ?? ""}${err.stderr ?? ""}`;
    if (/not a dynamic executable|statically linked/.test(text)) return [];
    if (err.code === "ENOENT")
      throw baseError("ldd is not installed: it is needed to find the node binary's shared libraries", e);
    throw baseError(`ldd ${binary} failed: ${text.trim() || err.message}`, e);
  }
  return parseLdd(stdout);
}

/** What the host-node base is made of: the files of its two layers and what its config says. */
export interface HostNodeInputs {
  platform: Platform;
  nodeVersion: string;
  system: LayerInput[];
  node: LayerInput[];
}

/** Reads what the base would hold from the host: the node binary's platform and version, its libraries, /etc. */
export async function hostNodeInputs(nodePath?: string): Promise<HostNodeInputs> {
  const path = await fsp.realpath(nodePath ?? process.execPath).catch((e: Error) => {
    throw baseError(`node binary ${nodePath ?? process.execPath} not found: ${e.message}`, e);
  });
  const head = Buffer.alloc(64);
  const fh = await fsp.open(path, "r");
  try {
    await fh.read(head, 0, 64, 0);
  } finally {
    await fh.close();
  }
  let platform: Platform;
  try {
    platform = elfPlatform(head, path);
  } catch (e) {
    throw baseError(`${(e as Error).message}: a host Node base image needs Linux's node`, e);
  }
  const { stdout: versionOut } = await execFileP(path, ["--version"]).catch((e: Error) => {
    throw baseError(`cannot run ${path} --version: ${e.message}`, e);
  });
  const system: LayerInput[] = [];
  for (const lib of await lddLibraries(path)) system.push(...(await hostPathInputs(lib)));
  if (await targetExists(CA_BUNDLE)) system.push(...(await hostPathInputs(CA_BUNDLE)));
  system.push(
    { dest: "/etc/passwd", content: Buffer.from(PASSWD) },
    { dest: "/etc/group", content: Buffer.from(GROUP) },
    { dest: "/etc/nsswitch.conf", content: Buffer.from(NSSWITCH) },
    { dest: "/tmp", dir: true, mode: 0o1777 },
    { dest: "/root", dir: true, mode: 0o700 },
    { dest: "/home/node", dir: true, mode: 0o755, uid: 1000, gid: 1000 },
  );
  return { platform, nodeVersion: versionOut.trim(), system, node: [{ dest: HOST_NODE_PATH, src: path, mode: 0o755 }] };
}

/** Builds the base image into `outDir` as an OCI layout (ref name "latest") and returns its manifest digest. */
export async function buildHostNodeBase(outDir: string, opts: HostNodeBaseOptions = {}): Promise<{ digest: Digest }> {
  return buildHostNodeLayout(outDir, await hostNodeInputs(opts.nodePath), resolveMtime(opts.mtime));
}

/** Builds the layout of `inputs` into `outDir` (atomically: a partial layout is never there). */
export async function buildHostNodeLayout(
  outDir: string,
  inputs: HostNodeInputs,
  mtime: number,
): Promise<{ digest: Digest }> {
  const { platform, nodeVersion } = inputs;
  const work = join(dirname(outDir), `.${basename(outDir)}.work-${process.pid}-${Math.random().toString(36).slice(2)}`);
  await fsp.mkdir(work, { recursive: true });
  try {
    const built: [string, LayerDescriptor][] = [];
    for (const [name, files] of [
      ["system", inputs.system],
      ["node", inputs.node],
    ] as const) {
      const p = join(work, `${name}.tar.gz`);
      built.push([p, await buildLayer(files, p, { mtime })]);
    }
    const [systemLayer, nodeLayer] = built.map(([p, d]) => layerFromDescriptor(p, d));
    const image = composeImage({
      layers: [
        {
          layer: systemLayer,
          createdBy:
            "rules_pipeline host-node base: shared libraries, /etc, /tmp, /root, /home/node from the build host",
        },
        { layer: nodeLayer, createdBy: `rules_pipeline host-node base: node ${nodeVersion} at ${HOST_NODE_PATH}` },
      ],
      env: { PATH: DEFAULT_PATH_ENV.slice("PATH=".length) },
      cmd: ["node"],
      labels: {
        "org.opencontainers.image.description": HOST_NODE_DESCRIPTION,
        [HOST_NODE_VERSION_LABEL]: nodeVersion,
      },
      created: mtime,
      os: platform.os,
      architecture: platform.architecture,
      variant: platform.variant,
    });
    await writeLayout(outDir, image, { refName: "latest", atomic: true });
    return { digest: image.digest };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
