/**
 * The local model cache, keyed by manifest digest (content-addressed: the same digest from two repositories is
 * the same model). An entry is `<cacheDir>/sha256/<hex>/` holding `model/` (the directory the runner mounts),
 * `manifest.json` (the manifest's bytes) and `complete.json` (the marker: digest and a listing of `model/`:
 * type, mode, size, link target and sha256 of every entry). Entries are built in a temporary sibling and renamed
 * into place whole, so a killed download never looks like an entry; one whose marker is missing, unreadable,
 * names another digest, or whose listing no longer matches the disk is not trusted.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot, modelsDir } from "../cache/layout";
import { type Digest, digestHex, fileDigest, sha256 } from "../oci/digest";

export const MARKER_FILE = "complete.json";
export const MANIFEST_FILE = "manifest.json";
export const MODEL_DIR = "model";

export interface ListedEntry {
  path: string;
  type: "dir" | "file" | "symlink" | "other";
  mode: number;
  size?: number;
  linkname?: string;
  sha256?: Digest;
}

export interface CacheMarker {
  version: 1;
  digest: Digest;
  entries: ListedEntry[];
}

/** `models/` under the cache root every other cache entry uses (src/cache/layout.ts: $PIPELINE_CACHE_DIR, ...). */
export function defaultModelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return modelsDir(cacheRoot(env));
}

export function entryDir(cacheDir: string, digest: Digest): string {
  return join(cacheDir, "sha256", digestHex(digest));
}

/** Every entry under `dir`, sorted by path; file digests are computed unless `known` has them (or `hash` is false). */
export async function listTree(
  dir: string,
  opts: { hash: boolean; known?: Map<string, Digest> },
): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  const walk = (host: string, rel: string) => {
    for (const name of readdirSync(host)) {
      const p = join(host, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ path, type: "dir", mode });
        walk(p, path);
      } else if (st.isFile()) out.push({ path, type: "file", mode, size: st.size });
      else if (st.isSymbolicLink()) out.push({ path, type: "symlink", mode: 0, linkname: readlinkSync(p) });
      else out.push({ path, type: "other", mode });
    }
  };
  walk(dir, "");
  out.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  if (opts.hash) {
    for (const e of out)
      if (e.type === "file") e.sha256 = opts.known?.get(e.path) ?? (await fileDigest(join(dir, e.path)));
  }
  return out;
}

/** The first difference between what the marker recorded and what is on disk, or undefined when they agree. */
export function listingDifference(
  recorded: readonly ListedEntry[],
  actual: readonly ListedEntry[],
  compareContent: boolean,
): string | undefined {
  const have = new Map(actual.map((e) => [e.path, e]));
  for (const r of recorded) {
    const a = have.get(r.path);
    if (!a) return `${r.path} is missing`;
    have.delete(r.path);
    if (a.type !== r.type) return `${r.path} is a ${a.type}, was a ${r.type}`;
    if (a.type !== "symlink" && a.mode !== r.mode)
      return `${r.path} has mode ${a.mode.toString(8)}, was ${r.mode.toString(8)}`;
    if (a.size !== r.size) return `${r.path} has ${a.size} bytes, was ${r.size}`;
    if (a.linkname !== r.linkname)
      return `${r.path} links to ${JSON.stringify(a.linkname)}, was ${JSON.stringify(r.linkname)}`;
    if (compareContent && r.type === "file" && a.sha256 !== r.sha256)
      return `${r.path} has content ${a.sha256}, was ${r.sha256}`;
  }
  const extra = [...have.keys()];
  return extra.length ? `${extra[0]} was added` : undefined;
}

/**
 * Whether the cache entry at `entry` holds `digest` whole. Returns undefined when it does, else why not (for the
 * warning that precedes fetching it again). `content` also re-hashes every file.
 */
export async function checkEntry(entry: string, digest: Digest, content: boolean): Promise<string | undefined> {
  // Read from disk: each field is checked below (the digest by comparing it with the one asked for).
  let marker: { [K in keyof CacheMarker]?: unknown } | null;
  try {
    marker = JSON.parse(readFileSync(join(entry, MARKER_FILE), "utf8")) as
      | { [K in keyof CacheMarker]?: unknown }
      | null;
  } catch (e) {
    return `no readable ${MARKER_FILE} (${(e as NodeJS.ErrnoException).code ?? "not JSON"})`;
  }
  if (marker?.version !== 1 || marker.digest !== digest || !Array.isArray(marker.entries))
    return `${MARKER_FILE} does not describe ${digest}`;
  try {
    if (sha256(readFileSync(join(entry, MANIFEST_FILE))) !== digest)
      return `${MANIFEST_FILE} does not have digest ${digest}`;
    const actual = await listTree(join(entry, MODEL_DIR), { hash: content });
    return listingDifference(marker.entries, actual, content);
  } catch (e) {
    return `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
}
