/**
 * @rules_pipeline/runtime — what launch scripts import to know whether they run with a container image.
 *
 *   import { hasContainerImage, containerImageUri } from "@rules_pipeline/runtime";
 *   if (hasContainerImage()) runInContainer(containerImageUri()); else runInProcess();
 *
 * Self-contained on purpose (Node built-ins only): it is copied into images and runfiles as one file.
 */

/** The pushed (or built) image reference `registry/repository@sha256:...` of the default image. */
export const ENV_CONTAINER_IMAGE = "PIPELINE_CONTAINER_IMAGE";
/** JSON object: image name → reference, when the pipeline has several images (`bases`). */
export const ENV_CONTAINER_IMAGE_URIS = "PIPELINE_CONTAINER_IMAGE_URIS";
export const DEFAULT_IMAGE = "default";

export class ContainerImageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ContainerImageError";
    this.code = code;
  }
}

type Env = Record<string, string | undefined>;

/** Every image the launch script was given, by name (`default` for the main one). Empty when there is none. */
export function containerImageUris(env: Env = process.env): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  const raw = env[ENV_CONTAINER_IMAGE_URIS];
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS} is not a JSON object: ${JSON.stringify(raw.slice(0, 200))}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS} must be a JSON object of name to image reference`);
    }
    for (const [name, uri] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof uri !== "string" || !uri) {
        throw new ContainerImageError("E_BAD_IMAGE_URIS", `${ENV_CONTAINER_IMAGE_URIS}: image ${JSON.stringify(name)} has no reference (got ${JSON.stringify(uri)})`);
      }
      out[name] = uri;
    }
  }
  const single = env[ENV_CONTAINER_IMAGE];
  if (single && !out[DEFAULT_IMAGE]) out[DEFAULT_IMAGE] = single;
  return Object.freeze(out);
}

/** True when the script runs with a container image (`bazel run :NAME` or `:NAME_binary`), false under `:NAME_local`. */
export function hasContainerImage(name: string = DEFAULT_IMAGE, env: Env = process.env): boolean {
  return Boolean(containerImageUris(env)[name]);
}

/** The reference of image `name`; throws ContainerImageError (code E_NO_CONTAINER_IMAGE) when there is none. */
export function containerImageUri(name: string = DEFAULT_IMAGE, env: Env = process.env): string {
  const uris = containerImageUris(env);
  const uri = uris[name];
  if (!uri) {
    const known = Object.keys(uris);
    throw new ContainerImageError(
      "E_NO_CONTAINER_IMAGE",
      known.length
        ? `no container image named ${JSON.stringify(name)}; this run has: ${known.map((k) => JSON.stringify(k)).join(", ")}`
        : `no container image: ${ENV_CONTAINER_IMAGE} is not set (run \`bazel run //pkg:NAME\` or \`:NAME_binary\`, not \`:NAME_local\`, or set it yourself)`,
    );
  }
  return uri;
}
