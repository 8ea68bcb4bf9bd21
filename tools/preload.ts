/**
 * Loaded with `node --require` before a pipeline's launch script by the `_local` and `_binary` launchers (and by
 * `pipeline bazel-run` for NAME): sets the launch script's environment from the launch config.
 * - local: no image variables at all;
 * - binary: the built images' references (configured registry/repository or $PIPELINE_REPOSITORY + digest) and
 *   their OCI layouts (PIPELINE_CONTAINER_IMAGE_LAYOUTS, for runInContainer);
 * - run: the variables were set by `pipeline bazel-run` after the push; only `env` is applied.
 */
import { PipelineError } from "../src/errors";
import { ENV_CONTAINER_IMAGE_LAYOUTS } from "../src/runtime";
import { imageEnv, pushTarget, readDigestFile, readLaunchConfig, removeImageEnv, userImages } from "../src/launch/config";
import { runfile, runfilesDir } from "../src/launch/runfiles";

function preload(env: NodeJS.ProcessEnv): void {
  const path = env.PIPELINE_LAUNCH_CONFIG;
  if (!path) return;
  delete env.PIPELINE_LAUNCH_CONFIG;
  const cfg = readLaunchConfig(path);
  for (const [k, v] of Object.entries(cfg.env ?? {})) if (env[k] === undefined) env[k] = v;
  if (cfg.mode === "local") {
    removeImageEnv(env);
  } else if (cfg.mode === "binary") {
    if (userImages(env)) return; // the user's PIPELINE_CONTAINER_IMAGE wins
    const target = pushTarget(cfg, undefined, env);
    const dir = runfilesDir(env);
    const uris: Record<string, string> = {};
    const layouts: Record<string, string> = {};
    for (const img of cfg.images) {
      uris[img.name] = `${target.registry}/${target.repository}@${readDigestFile(runfile(dir, img.digestFile))}`;
      layouts[img.name] = runfile(dir, img.layout);
    }
    Object.assign(env, imageEnv(uris));
    // Nothing is pushed: runInContainer() runs these layouts (same digests as the references).
    env[ENV_CONTAINER_IMAGE_LAYOUTS] = JSON.stringify(layouts);
  }
}

try {
  preload(process.env);
} catch (e) {
  const err = e as Error;
  const code = e instanceof PipelineError ? e.code : "E_INTERNAL";
  process.stderr.write(`rules_pipeline: error[${code}]: ${err.message}\n`);
  process.exit(2);
}
