/**
 * The base of a `--lockfile` build: an OCI layout (`oci:DIR[:NAME]` or a directory), a registry reference, or,
 * by default, the host-node base (src/base/host-node.ts) built once into `<cacheDir>/bases`, keyed by everything it
 * holds (src/base/host-node-cache.ts: a new node, shared library or CA bundle means a new base).
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { cachedHostNodeBase } from "../base/host-node-cache";
import type { Keychain } from "../registry-auth/keychain";
import type { Image } from "../oci/model";
import { readLayout } from "../layout/read";
import { sourceOfLayout } from "../layout/source";
import { formatReference, parseReference } from "../oci/reference";
import { pullImage } from "../registry/pull";

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

async function hostNodeBase(opts: LoadBaseOptions): Promise<BaseImage> {
  const { dir } = await cachedHostNodeBase(join(opts.cacheDir, "bases"), { mtime: opts.mtime, log: opts.log });
  return {
    image: readLayout(dir, { refName: "latest" }),
    describe: `host-node base (node ${process.version}, cached at ${dir})`,
  };
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
