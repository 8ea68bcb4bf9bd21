/**
 * The cache of a `--lockfile` build: node_modules layers keyed by what determines their bytes, and host-node
 * base images keyed by the node binary. Entries are written to a temporary directory and renamed into place,
 * so a crash never leaves half an entry; a layer is checked against its digest before it is reused. A lookup
 * first sweeps what killed builds left here (src/cache/sweep.ts: temporary entries, mkdtemp's npm-XXXXXX work
 * directories) and takes a lease on the entry (src/cache/use.ts), so `pipeline cache prune` keeps it meanwhile.
 *
 *   <cacheDir>/node_modules/<key>/{layer.tar.gz,descriptor.json}
 *   <cacheDir>/bases/host-node-<key>/   (an OCI layout)
 */
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { cacheRoot, NPM_WORK_DIR } from "../cache/layout";
import { holdTemp, tempPath } from "../process/temp";
import { sweepCacheDir } from "../cache/sweep";
import { useEntry } from "../cache/use";
import { PipelineError } from "../errors";
import { fileDigest } from "../oci/digest";
import type { LayerDescriptor } from "../layer/build";
import { digest } from "../oci/image-config";
import { checkJson, dict, int, obj, str } from "../schema/validators";

/**
 * Bump when the node_modules layer's content or layout changes for the same inputs (2: parallel gzip, hard links; 3:
 * pnpm's .modules.yaml left out, local packages installed from the project).
 */
export const LAYER_FORMAT_VERSION = 3;

export interface NodeModulesKeyInputs {
  lockfile: Buffer;
  packageJson: Buffer;
  /** Version of the node that runs npm (and, with the default base, the image's). */
  nodeVersion: string;
  /** The image's os/arch[/variant]. */
  platform: string;
  /** The runtime library's files added to the layer. */
  runtime: readonly { name: string; content: Buffer }[];
  /** Entry mtime of the layer (SOURCE_DATE_EPOCH). */
  mtime: number;
  /** Which install scripts ran: a rebuilt addon is in the layer, an ignored one is not. */
  installScripts?: { allow: readonly string[]; ignore: readonly string[] };
  /** The pinned package manager (pnpm, yarn) when not npm. */
  manager?: string;
  /** Workspace manifests the package manager read (project-relative path, bytes). */
  manifests?: { rel: string; bytes: Buffer }[];
  /** The files of the local packages `file:`/`link:`/`portal:` dependencies name (project-relative path, bytes). */
  localPackages?: { rel: string; bytes: Buffer }[];
  /** The symlinks the scratch directory gets (project-relative path, target). */
  links?: { rel: string; target: string }[];
}

const hex = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

export function nodeModulesKey(i: NodeModulesKeyInputs): string {
  return hex(
    JSON.stringify({
      format: LAYER_FORMAT_VERSION,
      lockfile: hex(i.lockfile),
      packageJson: hex(i.packageJson),
      node: i.nodeVersion,
      platform: i.platform,
      runtime: hex(i.runtime.map((f) => `${f.name}\0${hex(f.content)}`).join("\n")),
      mtime: i.mtime,
      // Absent when nothing is listed, so the keys of builds without install scripts stay as they were.
      ...(i.installScripts?.allow.length || i.installScripts?.ignore.length
        ? { installScripts: { allow: [...i.installScripts.allow].sort(), ignore: [...i.installScripts.ignore].sort() } }
        : {}),
      // Absent for npm projects without workspaces, so their keys stay as they were.
      ...(i.manager ? { manager: i.manager } : {}),
      ...(i.manifests?.length ? { manifests: i.manifests.map((m) => [m.rel, hex(m.bytes)]) } : {}),
      // Absent for projects without local packages or links, so their keys stay as they were.
      ...(i.localPackages?.length ? { localPackages: i.localPackages.map((m) => [m.rel, hex(m.bytes)]) } : {}),
      ...(i.links?.length ? { links: i.links.map((l) => [l.rel, l.target]) } : {}),
    }),
  );
}

/** `lockfile/` under the cache root the runner uses ($PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/rules_pipeline, ...). */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  return join(cacheRoot(env), "lockfile");
}

export interface CachedLayer {
  path: string;
  desc: LayerDescriptor;
}

/** A cache entry's descriptor.json (we wrote it, but a torn or edited file must not hand on a digest unchecked). */
const CACHED_DESCRIPTOR = obj({
  digest: { v: digest, required: true },
  size: { v: int(0, Number.MAX_SAFE_INTEGER), required: true },
  diffId: { v: digest, required: true },
  mediaType: { v: str(), required: true },
  annotations: { v: dict(str()) },
});

function entryDir(cacheDir: string, key: string): string {
  return join(cacheDir, "node_modules", key);
}

/** The cached layer for `key`, verified; undefined when absent. A corrupt entry is removed (and reported). */
export async function lookupLayer(
  cacheDir: string,
  key: string,
  warn: (line: string) => void,
): Promise<CachedLayer | undefined> {
  const dir = entryDir(cacheDir, key);
  await Promise.all([
    sweepCacheDir(cacheDir, { ownerless: NPM_WORK_DIR }),
    sweepCacheDir(join(cacheDir, "node_modules")),
  ]);
  await useEntry(join(cacheDir, "node_modules"), key);
  let doc: unknown;
  try {
    doc = JSON.parse(await fsp.readFile(join(dir, "descriptor.json"), "utf8"));
  } catch {
    return undefined;
  }
  let desc: LayerDescriptor;
  try {
    desc = checkJson(doc, join(dir, "descriptor.json"), CACHED_DESCRIPTOR, "E_CACHE");
  } catch (e) {
    warn(`cache entry ${dir} is corrupt (${e instanceof PipelineError ? e.message : String(e)}): rebuilding it`);
    await fsp.rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const path = join(dir, "layer.tar.gz");
  try {
    const st = await fsp.stat(path);
    if (st.size === desc.size && (await fileDigest(path)) === desc.digest) return { path, desc };
  } catch {
    /* missing blob: treated as corrupt */
  }
  warn(`cache entry ${dir} is corrupt (blob missing or not matching ${desc.digest}): rebuilding it`);
  await fsp.rm(dir, { recursive: true, force: true });
  return undefined;
}

/** Moves a freshly built layer into the cache (or keeps the entry another build stored first). */
export async function storeLayer(cacheDir: string, key: string, built: CachedLayer): Promise<CachedLayer> {
  const dir = entryDir(cacheDir, key);
  await fsp.mkdir(join(cacheDir, "node_modules"), { recursive: true });
  const tmp = tempPath(dir);
  const release = holdTemp(tmp);
  await fsp.mkdir(tmp);
  try {
    await fsp.rename(built.path, join(tmp, "layer.tar.gz"));
    await fsp.writeFile(join(tmp, "descriptor.json"), JSON.stringify(built.desc));
    try {
      await fsp.rename(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      // Another build stored the same key meanwhile: same inputs, same bytes; use theirs.
    }
  } catch (e) {
    throw new PipelineError("E_CACHE", `cannot store the node_modules layer in ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
    release();
  }
  return { path: join(dir, "layer.tar.gz"), desc: built.desc };
}
