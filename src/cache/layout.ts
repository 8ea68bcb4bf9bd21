/**
 * The cache root and what lives under it: one root, `cacheRoot()`,
 *   1. the `cacheDir` option / `--cache-dir` flag;
 *   2. $PIPELINE_CACHE_DIR;
 *   3. $XDG_CACHE_HOME/rules_pipeline (when absolute: the XDG spec says to ignore a relative one), else
 *      ~/.cache/rules_pipeline.
 * A relative flag or $PIPELINE_CACHE_DIR is taken from the working directory, once, here: the root is always
 * absolute, so paths built from it mean the same from any directory (runc resolves a bundle's rootfs from the
 * bundle, not from our working directory). Library callers' `cacheDir` options go through this too.
 * Under it:
 *   images/<hex>     OCI layouts pulled from registries, keyed by the digest asked for (content-addressed);
 *   rootfs/<hex>     unpacked root filesystems keyed by manifest digest, never written after the rename that
 *                    publishes them (containers get an overlay or a copy);
 *   runs/<id>        one container's bundle (config.json: a FIFO under runc, mounts.json, its writable root), removed when the container ends;
 *   datasets/<dataset>/<name>   git clones of `repositories:`, kept between runs;
 *   code/<hex>       git clones of GitRepoBranch/GitRepoCommit code deployments;
 *   models/sha256/<hex>         what src/weights's syncModel caches;
 *   lockfile/        `pipeline build --lockfile`'s cache: node_modules/<key> layers, bases/host-node-<key>;
 *   lockfile-builds/ layouts built from a lockfile for one run (removed after it);
 *   bases/host-node-<hex>  host-node base layouts keyed by what they hold (src/base/host-node-cache.ts), never
 *                    written after the rename that publishes them; `pipeline base host-node` (the base repository
 *                    rule, in every new output base) copies them out;
 *   repos/<kind>-<hex>  Bazel repository contents (bazel/private/repositories/repo_cache.bzl and .js write them; `npm`,
 *                    `tools`), never written after the rename that publishes them; a restore sets the entry's
 *                    modification time (its last use);
 *   podman/, docker/ the engines' own stores and scratch (src/container/engine-cli.ts);
 *   code-cache/<name>.v8  V8 code caches of the npm package's CLI bundle (src/cli/code-cache.ts), one file per
 *                    bundle and Node version, at most CODE_CACHE_KEEP of them; any may be removed at any time;
 *   push-daemon/<key>  the push daemons' state (port, secrets, pid; 0700 directory) and <key>.log, one per CLI bundle
 *                    (src/cli/push-daemon/protocol.ts); each daemon removes its own file as it ends.
 * ENTRY_DIRS are the directories whose entries `pipeline cache prune` may remove; TEMP_DIRS are where writers
 * leave temporary entries (sweep.ts), with the names particular to each.
 */
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { TempRules } from "../process/temp";
import { SHA256_HEX } from "../oci/grammar";

export function cacheRoot(env: NodeJS.ProcessEnv = process.env, explicit?: string): string {
  if (explicit) return resolve(explicit);
  if (env.PIPELINE_CACHE_DIR) return resolve(env.PIPELINE_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : undefined;
  return resolve(xdg ?? join(env.HOME || homedir(), ".cache"), "rules_pipeline");
}

export const imagesDir = (root: string) => join(root, "images");
export const rootfsDir = (root: string) => join(root, "rootfs");
export const runsDir = (root: string) => join(root, "runs");
export const datasetsDir = (root: string) => join(root, "datasets");
export const codeDir = (root: string) => join(root, "code");
export const modelsDir = (root: string) => join(root, "models");
export const lockfileDir = (root: string) => join(root, "lockfile");
export const lockfileBuildsDir = (root: string) => join(root, "lockfile-builds");
export const reposDir = (root: string) => join(root, "repos");
export const codeCacheDir = (root: string) => join(root, "code-cache");
export const basesDir = (root: string) => join(root, "bases");
/** Layers of shallow bases fetched for a sink that needs files (src/transfer/cached-layers.ts), by digest. */
export const blobsDir = (root: string) => join(root, "blobs");
/** Entry names in a bases directory (src/base/host-node-cache.ts). */
export const HOST_NODE_ENTRY = /^host-node-[a-f0-9]{64}$/;

/** A code cache file: the bundle's digest (16 hex), the Node version and the architecture (src/cli/code-cache.ts). */
export const CODE_CACHE_ENTRY = /^pipeline-[0-9a-f]{16}-node[0-9]+\.[0-9]+\.[0-9]+-[a-z0-9]+\.v8$/;
/** How many code cache files code-cache/ keeps (the writer removes the least recently written beyond). */
export const CODE_CACHE_KEEP = 8;

/** What `pipeline cache du` reports, in this order. */
export const USAGE_KINDS = [
  "images",
  "rootfs",
  "blobs",
  "models",
  "lockfile",
  "lockfile-builds",
  "bases",
  "repos",
  "code-cache",
  "checkouts",
  "runs",
  "podman",
  "docker",
  "temp",
] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** The directories of each kind but "temp" (the temporary entries inside them are counted as temp). */
export function usageDirs(root: string): Record<Exclude<UsageKind, "temp">, string[]> {
  return {
    images: [imagesDir(root)],
    rootfs: [rootfsDir(root)],
    blobs: [blobsDir(root)],
    models: [modelsDir(root)],
    lockfile: [lockfileDir(root)],
    "lockfile-builds": [lockfileBuildsDir(root)],
    bases: [basesDir(root)],
    repos: [reposDir(root)],
    "code-cache": [codeCacheDir(root)],
    checkouts: [datasetsDir(root), codeDir(root)],
    runs: [runsDir(root)],
    podman: [join(root, "podman")],
    docker: [join(root, "docker")],
  };
}

export type EntryKind = "images" | "rootfs" | "blobs" | "models" | "lockfile" | "bases" | "repos" | "code-cache";

export interface EntryDir {
  kind: EntryKind;
  dir: string;
  /** Names of whole entries (anything else there is left alone). */
  entry: RegExp;
}

const HEX64 = new RegExp(`^${SHA256_HEX}$`);

export function entryDirs(root: string): EntryDir[] {
  return [
    { kind: "images", dir: imagesDir(root), entry: HEX64 },
    { kind: "rootfs", dir: rootfsDir(root), entry: HEX64 },
    { kind: "models", dir: join(modelsDir(root), "sha256"), entry: HEX64 },
    { kind: "lockfile", dir: join(lockfileDir(root), "node_modules"), entry: HEX64 },
    // 32 hex: keyed by node alone, before src/base/host-node-cache.ts (left for prune to remove).
    { kind: "lockfile", dir: join(lockfileDir(root), "bases"), entry: /^host-node-(?:[a-f0-9]{32}|[a-f0-9]{64})$/ },
    { kind: "bases", dir: basesDir(root), entry: HOST_NODE_ENTRY },
    { kind: "repos", dir: reposDir(root), entry: /^[a-z]+-[a-f0-9]{64}$/ },
    { kind: "code-cache", dir: codeCacheDir(root), entry: CODE_CACHE_ENTRY },
    { kind: "blobs", dir: blobsDir(root), entry: HEX64 },
  ];
}

/** mkdtemp(lockfile/npm-) work directories of `build --lockfile` (src/lockfile/build.ts). */
export const NPM_WORK_DIR = /^npm-[A-Za-z0-9]{6}$/;

/** Where temporary entries appear, with the sweep options particular to each directory. */
export function tempDirs(root: string): { dir: string; opts: TempRules }[] {
  return [
    ...entryDirs(root).map((e) => ({ dir: e.dir, opts: {} })),
    { dir: lockfileDir(root), opts: { ownerless: NPM_WORK_DIR } },
    // src/container/deployment.ts: lockfile-builds/<pid>-<ms>, only needed while that run runs
    { dir: lockfileBuildsDir(root), opts: { owned: /^(\d+)-\d+$/ } },
    // <engine>/load/<pid>-<8 hex>: what runners before the judged-rootfs import left (engine-image.ts used them)
    { dir: join(root, "podman", "load"), opts: { owned: /^(\d+)-[0-9a-f]{8}$/ } },
    { dir: join(root, "docker", "load"), opts: { owned: /^(\d+)-[0-9a-f]{8}$/ } },
  ];
}
