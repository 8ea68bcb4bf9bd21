/**
 * The launch script's environment, assembled once: `launchEnvironment` is what `:NAME_local` and `:NAME_binary`
 * (tools/preload.ts) and `:NAME` (`pipeline bazel-run`) hand to the script. The variables' names, their parsing and
 * its error code belong to `@rules_pipeline/runtime` (src/runtime/index.ts), which the script reads them with; this
 * module only adds the reference grammar check, which the import-free runtime cannot make.
 */
import { PipelineError } from "../errors";
import { parseReference } from "../oci/reference";
import {
  ContainerImageError,
  containerImageEnv,
  containerImageUris,
  DEFAULT_IMAGE,
  ENV_CONTAINER_IMAGE,
  ENV_CONTAINER_IMAGE_URIS,
  IMAGE_VARIABLES,
} from "../runtime";

/** Names the launch config for the preload; removed before the script runs. */
export const ENV_LAUNCH_CONFIG = "PIPELINE_LAUNCH_CONFIG";

/** The images a launch hands to the script: references by name, and for unpushed ones their OCI layouts. */
export interface LaunchImages {
  uris: Readonly<Record<string, string>>;
  layouts?: Readonly<Record<string, string>>;
}

/** `containerImageUris` as a PipelineError (same code and message) for the CLI's and the preload's error boundary. */
function readImageVariables(env: NodeJS.ProcessEnv): Readonly<Record<string, string>> {
  try {
    return containerImageUris(env);
  } catch (e) {
    if (e instanceof ContainerImageError) throw new PipelineError(e.code, e.message);
    throw e;
  }
}

/** Images the user handed in through the environment, which skip building and pushing; each a valid reference. */
export function userImages(env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const uris = readImageVariables(env);
  if (Object.keys(uris).length === 0) return undefined;
  for (const [name, uri] of Object.entries(uris)) {
    const fromSingle = name === DEFAULT_IMAGE && Boolean(env[ENV_CONTAINER_IMAGE]);
    parseReference(uri, fromSingle ? ENV_CONTAINER_IMAGE : `${ENV_CONTAINER_IMAGE_URIS}[${JSON.stringify(name)}]`);
  }
  return { ...uris };
}

/**
 * The launch script's environment: the caller's `env`, the BUILD file's `cfgEnv` for the variables the caller does
 * not set, and the image variables of `images` alone (none at all when `images` is undefined, as under `:NAME_local`).
 */
export function launchEnvironment(
  env: NodeJS.ProcessEnv,
  cfgEnv: Readonly<Record<string, string>>,
  images: LaunchImages | undefined,
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  delete out[ENV_LAUNCH_CONFIG];
  for (const [k, v] of Object.entries(cfgEnv)) if (out[k] === undefined) out[k] = v;
  for (const name of IMAGE_VARIABLES) delete out[name];
  return images ? { ...out, ...containerImageEnv(images.uris, images.layouts) } : out;
}
