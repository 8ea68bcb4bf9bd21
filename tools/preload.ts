/**
 * Loaded with `node --require` before a pipeline's launch script by every launcher (`_local`, `_binary`, and NAME
 * through `pipeline bazel-run`): makes `require` follow rules_js's package links (src/preload/package-links.ts), then,
 * for `_local` and `_binary`, sets the launch script's environment from the launch config
 * (src/launch/env.ts launchEnvironment; `pipeline bazel-run` has set it already for NAME):
 * - local: no image variables at all;
 * - binary: the built images' references (configured registry/repository or $PIPELINE_REPOSITORY + digest) and
 *   their OCI layouts (PIPELINE_CONTAINER_IMAGE_LAYOUTS, for runInContainer), unless the user's
 *   PIPELINE_CONTAINER_IMAGE(_URIS) name the images.
 * A failure is reported as the CLI reports one (src/cli/failure.ts) and ends the process before the script starts.
 *
 * An ES module entry also gets `import` following the package links, through a resolve hook registered from the main
 * thread; Node loads this file again on the hooks thread, where the hook takes followPackageLinksUrl from it (exported
 * for that).
 */
import { reportFailure } from "../src/cli/failure";
import { processIo } from "../src/cli/io";
import { readDigestFile, readLaunchConfig } from "../src/launch/config";
import { pushTarget } from "../src/transfer/target";
import { ENV_LAUNCH_CONFIG, type LaunchImages, launchEnvironment, userImages } from "../src/launch/env";
import { installEsmPackageLinkResolution, installPackageLinkResolution } from "../src/preload/package-links";
import { runfile, runfilesDir } from "../src/launch/runfiles";

function preload(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  const path = env[ENV_LAUNCH_CONFIG];
  if (!path) return undefined;
  const cfg = readLaunchConfig(path);
  if (cfg.mode !== "local" && cfg.mode !== "binary") return undefined;
  let images: LaunchImages | undefined;
  if (cfg.mode !== "local") {
    const user = userImages(env);
    if (user) images = { uris: user };
    else if (cfg.mode === "binary") {
      const target = pushTarget(cfg, undefined, env);
      const dir = runfilesDir(env);
      const uris: Record<string, string> = {};
      const layouts: Record<string, string> = {};
      for (const img of cfg.images) {
        uris[img.name] = `${target.registry}/${target.repository}@${readDigestFile(runfile(dir, img.digestFile))}`;
        layouts[img.name] = runfile(dir, img.layout);
      }
      // Nothing is pushed: runInContainer() runs these layouts (same digests as the references).
      images = { uris, layouts };
    }
  }
  return launchEnvironment(env, cfg.env ?? {}, images);
}

export { followPackageLinksUrl } from "../src/preload/package-links";

try {
  installPackageLinkResolution();
  installEsmPackageLinkResolution(__filename);
  const env = preload(process.env);
  if (env) {
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
  }
} catch (e) {
  process.exit(reportFailure(e, processIo(), false));
}
