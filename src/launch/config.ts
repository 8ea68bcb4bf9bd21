/** The launch config the Bazel launchers hand to Node: what to run, which images, where to push them. */
import { readFileSync } from "node:fs";
import { PipelineError } from "../errors";
import { type Digest, parseDigest } from "../oci/digest";
import { parseReference, validateRegistry, validateRepository } from "../oci/reference";

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
