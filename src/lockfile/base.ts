/**
 * The base of a `--lockfile` build: an OCI layout (`oci:DIR[:NAME]` or a directory), a registry reference, or,
 * by default, the host-node base (src/base/host-node.ts) built once into the cache, keyed by the node binary's
 * bytes and version (so a new node means a new base; a change of the host's shared libraries alone does not:
 * delete `<cacheDir>/bases` to pick those up).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { buildHostNodeBase } from "../base/host-node";
import type { Keychain } from "../auth/keychain";
import { useEntry } from "../cache/use";
import type { Image } from "../image/image";
import { readLayout } from "../layout/read";
import { sourceOfLayout } from "../layout/source";
import { formatReference, parseReference } from "../oci/reference";
import { pullImage } from "../registry/pull";
import { fileDigest } from "../oci/digest";

export interface BaseImage {
  image: Image;
  /** Recorded as the image's base.name annotation when known (`registry/repo@sha256:...`). */
  name?: string;
  /** How it was obtained, for the log. */
  describe: string;
}

export interface LoadBaseOptions {
  cacheDir: string;
  mtime: number;
  keychainFor: (registry: string) => Promise<Keychain>;
  insecure?: boolean;
  log: (line: string) => void;
}

const BASE_FORMAT_VERSION = 1;

async function hostNodeBase(opts: LoadBaseOptions): Promise<BaseImage> {
  const nodeHash = await fileDigest(process.execPath);
  const key = createHash("sha256")
    .update(JSON.stringify({ format: BASE_FORMAT_VERSION, node: nodeHash, version: process.version, mtime: opts.mtime }))
    .digest("hex")
    .slice(0, 32);
  const dir = join(opts.cacheDir, "bases", `host-node-${key}`);
  await useEntry(join(opts.cacheDir, "bases"), `host-node-${key}`); // `cache prune` keeps it while this build reads it
  if (!existsSync(join(dir, "index.json"))) {
    opts.log(`base: building the host-node base (node ${process.version} from ${process.execPath}) into ${dir}`);
    await buildHostNodeBase(dir, { mtime: opts.mtime });
  }
  return { image: readLayout(dir, { refName: "latest" }), describe: `host-node base (node ${process.version}, cached at ${dir})` };
}

export async function loadBase(spec: string | undefined, opts: LoadBaseOptions): Promise<BaseImage> {
  if (spec === undefined || spec === "") return hostNodeBase(opts);
  const m = /^oci:(.*?)(?::([^/:]+))?$/.exec(spec);
  if (m || (existsSync(spec) && statSync(spec).isDirectory())) {
    const dir = m ? m[1] : spec;
    return { image: readLayout(dir, { refName: m?.[2] }), name: sourceOfLayout(dir), describe: `OCI layout ${dir}` };
  }
  const ref = parseReference(spec, "--base");
  const image = await pullImage(ref, { keychain: await opts.keychainFor(ref.registry), insecure: opts.insecure });
  const pinned = formatReference({ ...ref, tag: undefined, digest: image.digest });
  return { image, name: pinned, describe: pinned };
}
