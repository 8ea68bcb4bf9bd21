/**
 * The host-node base (host-node.ts), built once per distinct input and kept as an OCI layout in a cache directory
 * (`<cache root>/bases/host-node-<key>` for `pipeline base host-node`, which the base repository rule runs in every
 * new output base; `<lockfile cache>/bases/...` for `pipeline build --lockfile`). Building it gzips the node binary
 * (~100 MB: seconds); reading what it is made of and hashing it takes a fraction of that.
 *
 * The key is the content of everything the layout holds: every file's bytes (sha256), mode and owner, every symlink's
 * target, the files written inline, the node version, the platform, the mtime and HOST_NODE_FORMAT. So a new node, an
 * upgraded shared library or CA bundle gives a new entry, and an entry is what a build of the same inputs writes
 * (host-node-cache.test.ts builds both and compares them byte for byte). A change to how the layout is written
 * (host-node.ts, the layer writer) must bump HOST_NODE_FORMAT; src/layer/pinned-bytes.test.ts catches the layer's.
 *
 * An entry is published by one rename and never written after; it is copied out (and so verified: every blob is
 * hashed against its digest on the way), and one that fails that check is removed and built again.
 */
import { createHash } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import { useEntry } from "../cache/use";
import { resolveMtime } from "../layer/build";
import { readLayout } from "../layout/read";
import { writeLayout } from "../layout/write";
import type { Digest } from "../oci/digest";
import { fileDigest } from "../oci/digest";
import { holdTemp, tempPath } from "../process/temp";
import { buildHostNodeBase, buildHostNodeLayout, type HostNodeInputs, hostNodeInputs } from "./host-node";

/** Bumped when the same inputs would give other bytes. */
export const HOST_NODE_FORMAT = 1;

/** The key of a host-node base: sha256 over what it holds (see the module comment). */
export async function hostNodeKey(inputs: HostNodeInputs, mtime: number): Promise<string> {
  const files = [];
  for (const [layer, list] of [
    ["system", inputs.system],
    ["node", inputs.node],
  ] as const) {
    for (const f of list) {
      // A file's own mode counts where the entry sets none (the layer then keeps its x bits).
      const mode = f.mode ?? (f.src ? (await fsp.stat(f.src)).mode & 0o7777 : null);
      const content = f.content
        ? `sha256:${createHash("sha256").update(f.content).digest("hex")}`
        : f.src
          ? await fileDigest(f.src)
          : null;
      files.push([layer, f.dest, mode, f.uid ?? 0, f.gid ?? 0, f.dir ? "dir" : (f.symlink ?? null), content]);
    }
  }
  const what = { format: HOST_NODE_FORMAT, mtime, platform: inputs.platform, node: inputs.nodeVersion, files };
  return createHash("sha256").update(JSON.stringify(what)).digest("hex");
}

export interface CachedHostNodeOptions {
  /** The node binary (default: this process's). */
  nodePath?: string;
  /** Seconds since the epoch for mtimes and `created` (default SOURCE_DATE_EPOCH, else 0). */
  mtime?: number;
  log?: (line: string) => void;
}

/** The cache entry of the host-node base for these inputs, built into `bases` first when it is not there. */
export async function cachedHostNodeBase(
  bases: string,
  opts: CachedHostNodeOptions = {},
): Promise<{ dir: string; hit: boolean }> {
  const inputs = await hostNodeInputs(opts.nodePath);
  const mtime = resolveMtime(opts.mtime);
  const name = `host-node-${await hostNodeKey(inputs, mtime)}`;
  const dir = join(bases, name);
  await fsp.mkdir(bases, { recursive: true });
  await useEntry(bases, name); // `pipeline cache prune` keeps it while this process reads it
  if (existsSync(join(dir, "index.json"))) return { dir, hit: true };
  opts.log?.(`base: building the host-node base (node ${inputs.nodeVersion}) into ${dir}`);
  const tmp = tempPath(dir);
  const release = holdTemp(tmp);
  try {
    await buildHostNodeLayout(tmp, inputs, mtime);
    await fsp.rename(tmp, dir);
  } catch (e) {
    // Another process published the same entry meanwhile: the same bytes, keep theirs.
    const code = (e as NodeJS.ErrnoException).code;
    if (!(code === "ENOTEMPTY" || code === "EEXIST") || !existsSync(join(dir, "index.json"))) throw e;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    release();
  }
  return { dir, hit: false };
}

/**
 * `pipeline base host-node --output DIR`: the layout written to `outDir` (atomically), from the cache in `bases`
 * (or, with `bases` undefined, built without reading or writing any cache).
 */
export async function writeHostNodeBase(
  outDir: string,
  bases: string | undefined,
  opts: CachedHostNodeOptions = {},
): Promise<{ digest: Digest }> {
  if (bases === undefined) return buildHostNodeBase(outDir, opts);
  for (let attempt = 0; ; attempt++) {
    const { dir } = await cachedHostNodeBase(bases, opts);
    try {
      const image = readLayout(dir, { refName: "latest" });
      // Copied, not linked: every blob is hashed against its digest on the way, and the output is the caller's own.
      await writeLayout(outDir, image, { refName: "latest", atomic: true, hardlink: false });
      return { digest: image.digest };
    } catch (e) {
      if (attempt > 0) throw e;
      opts.log?.(`base: the cached ${dir} failed its check (${(e as Error).message}); building it again`);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
}
