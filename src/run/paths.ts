/**
 * Where the local runner keeps things between runs. One root, `cacheRoot()`:
 *   1. the `cacheDir` option / `--cache-dir` flag;
 *   2. $PIPELINE_CACHE_DIR;
 *   3. $XDG_CACHE_HOME/rules_pipeline, else ~/.cache/rules_pipeline.
 * Under it:
 *   images/<hex>     OCI layouts pulled from registries, keyed by the digest asked for (content-addressed);
 *   rootfs/<hex>     unpacked root filesystems keyed by manifest digest, never written after the rename that
 *                    publishes them (containers get an overlay or a copy);
 *   runs/<id>        one container's bundle (config.json, its writable root), removed when the container ends;
 *   datasets/<dataset>/<name>   git clones of `repositories:`, kept between runs;
 *   code/<hex>       git clones of GitRepoBranch/GitRepoCommit code deployments;
 *   models/          what src/model's syncModel caches.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export function cacheRoot(env: NodeJS.ProcessEnv = process.env, explicit?: string): string {
  if (explicit) return explicit;
  if (env.PIPELINE_CACHE_DIR) return env.PIPELINE_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "rules_pipeline");
}

export const imagesDir = (root: string) => join(root, "images");
export const rootfsDir = (root: string) => join(root, "rootfs");
export const runsDir = (root: string) => join(root, "runs");
export const datasetsDir = (root: string) => join(root, "datasets");
export const codeDir = (root: string) => join(root, "code");
export const modelsDir = (root: string) => join(root, "models");
