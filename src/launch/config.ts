/** The launch config the Bazel launchers hand to Node: what to run, which images, where to push them. */
import { readFileSync } from "node:fs";
import { PipelineError } from "../errors";
import { type Digest, parseDigest } from "../oci/digest";
import { parseReference, validateRegistry, validateRepository } from "../oci/reference";
import { DEFAULT_IMAGE, ENV_CONTAINER_IMAGE, ENV_CONTAINER_IMAGE_LAYOUTS, ENV_CONTAINER_IMAGE_URIS } from "../runtime";

export interface LaunchImage {
  name: string;
  /** Runfiles-relative path of the OCI layout directory. */
  layout: string;
  /** Runfiles-relative path of the `.digest` file. */
  digestFile: string;
  /** Runfiles-relative path of the image's SPDX SBOM, attached to the pushed image as a referrer. */
  sbomFile?: string;
}

export interface LaunchConfig {
  label: string;
  mode: "push" | "run" | "binary" | "local";
  workspace: string;
  registry: string;
  repository: string;
  tags: string[];
  insecure: boolean;
  images: LaunchImage[];
  env: Record<string, string>;
  /** Runfiles-relative path of the compiled entry point. */
  entry?: string;
  /**
   * Runfiles-relative paths of the workspace status files (stable, then volatile): set only when the target was
   * built with stamping, for `{KEY}` placeholders in `tags`.
   */
  stampFiles?: string[];
  /** The lockfiles the images were built from (for the provenance): a label each and its runfiles-relative path. */
  lockfiles?: { name: string; path: string }[];
  /** Runfiles-relative path of the `sign_key` attribute's cosign private key (a source file, linked in the runfiles). */
  signKey?: string;
  /** Runfiles-relative path of the preload (tools/preload.js) that `bazel-run` loads before the entry point. */
  preload?: string;
}

/** Overrides registry/repository for every target of a pipeline: `HOST/REPO`. */
export const ENV_REPOSITORY_OVERRIDE = "PIPELINE_REPOSITORY";

export function readLaunchConfig(path: string): LaunchConfig {
  let cfg: LaunchConfig;
  try {
    cfg = JSON.parse(readFileSync(path, "utf8")) as LaunchConfig;
  } catch (e) {
    throw new PipelineError("E_LAUNCH_CONFIG", `cannot read launch config ${path}: ${(e as Error).message}`);
  }
  const malformed = (field: string, expected: string, got: unknown) =>
    new PipelineError(
      "E_LAUNCH_CONFIG",
      `launch config ${path} is malformed (rebuild the target): "${field}" must be ${expected}, got ${JSON.stringify(got) ?? "nothing"}`,
    );
  if (!cfg || typeof cfg !== "object" || Array.isArray(cfg)) throw malformed("(top level)", "an object", cfg);
  if (!Array.isArray(cfg.images)) throw malformed("images", "an array", cfg.images);
  if (typeof cfg.mode !== "string") throw malformed("mode", "a string", cfg.mode);
  return cfg;
}

export interface Target {
  registry: string;
  repository: string;
}

/** `--repository HOST/REPO` beats `$PIPELINE_REPOSITORY`, which beats the BUILD file's registry/repository. */
export function pushTarget(
  cfg: Pick<LaunchConfig, "registry" | "repository" | "label">,
  override?: string,
  env: NodeJS.ProcessEnv = process.env,
): Target {
  const fromEnv = env[ENV_REPOSITORY_OVERRIDE];
  const chosen = override || fromEnv;
  if (chosen) {
    const what = override ? "--repository" : ENV_REPOSITORY_OVERRIDE;
    if (!chosen.includes("/")) {
      throw new PipelineError("E_BAD_REFERENCE", `${what}: expected HOST/REPOSITORY (e.g. localhost:5000/team/app), got ${JSON.stringify(chosen)}`);
    }
    if (chosen.includes("@") || /:[^/]*$/.test(chosen.slice(chosen.indexOf("/")))) {
      throw new PipelineError("E_BAD_REFERENCE", `${what}: should not contain a tag or digest, got ${JSON.stringify(chosen)}`);
    }
    const ref = parseReference(chosen, what);
    return { registry: ref.registry, repository: ref.repository };
  }
  validateRegistry(cfg.registry, `${cfg.label}: registry`);
  validateRepository(cfg.repository, `${cfg.label}: repository`);
  return { registry: cfg.registry, repository: cfg.repository };
}

export function readDigestFile(path: string): Digest {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new PipelineError("E_RUNFILES", `cannot read image digest ${path}: ${(e as Error).message}`);
  }
  return parseDigest(text, path);
}

/** The variables a launch script sees for these images (name → reference). */
export function imageEnv(uris: Record<string, string>): Record<string, string> {
  const names = Object.keys(uris);
  if (names.length === 0) return {};
  const main = uris[DEFAULT_IMAGE] ?? uris[names.sort()[0]];
  return { [ENV_CONTAINER_IMAGE]: main, [ENV_CONTAINER_IMAGE_URIS]: JSON.stringify(uris) };
}

/** Images the user handed in through the environment, which skip building and pushing. */
export function userImages(env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const single = env[ENV_CONTAINER_IMAGE];
  const many = env[ENV_CONTAINER_IMAGE_URIS];
  if (!single && !many) return undefined;
  const out: Record<string, string> = {};
  if (many) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(many);
    } catch {
      throw new PipelineError("E_BAD_REFERENCE", `${ENV_CONTAINER_IMAGE_URIS}: expected a JSON object, got ${JSON.stringify(many.slice(0, 200))}`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new PipelineError(
        "E_BAD_REFERENCE",
        `${ENV_CONTAINER_IMAGE_URIS}: expected a JSON object of image name to reference, got ${JSON.stringify(many.slice(0, 200))}`,
      );
    }
    for (const [name, uri] of Object.entries(parsed)) {
      const what = `${ENV_CONTAINER_IMAGE_URIS}[${JSON.stringify(name)}]`;
      if (typeof uri !== "string") throw new PipelineError("E_BAD_REFERENCE", `${what}: expected a reference string, got ${JSON.stringify(uri)}`);
      parseReference(uri, what);
      out[name] = uri;
    }
  }
  if (single) {
    parseReference(single, `${ENV_CONTAINER_IMAGE}[${DEFAULT_IMAGE}]`);
    out[DEFAULT_IMAGE] = single;
  }
  return out;
}

/** Applies the BUILD file's `env` where the caller's environment does not already set the variable. */
export function withConfigEnv(env: NodeJS.ProcessEnv, cfgEnv: Record<string, string>): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const [k, v] of Object.entries(cfgEnv)) if (out[k] === undefined) out[k] = v;
  return out;
}

export function removeImageEnv(env: NodeJS.ProcessEnv): void {
  delete env[ENV_CONTAINER_IMAGE];
  delete env[ENV_CONTAINER_IMAGE_URIS];
  delete env[ENV_CONTAINER_IMAGE_LAYOUTS];
}
