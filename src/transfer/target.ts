/**
 * Where a push goes: the registry and repository of a pipeline's images, from `--repository`, `$PIPELINE_REPOSITORY`
 * or the BUILD file's (the launch config's) registry/repository.
 */
import { PipelineError } from "../errors";
import { parseReference, validateRegistry, validateRepository } from "../oci/reference";

/** Overrides registry/repository for every target of a pipeline: `HOST/REPO`. */
export const ENV_REPOSITORY_OVERRIDE = "PIPELINE_REPOSITORY";

export interface Target {
  registry: string;
  repository: string;
}

/** `--repository HOST/REPO` beats `$PIPELINE_REPOSITORY`, which beats the BUILD file's registry/repository. */
export function pushTarget(
  cfg: { registry: string; repository: string; label: string },
  override?: string,
  env: NodeJS.ProcessEnv = process.env,
): Target {
  const fromEnv = env[ENV_REPOSITORY_OVERRIDE];
  const chosen = override || fromEnv;
  if (chosen) {
    const what = override ? "--repository" : ENV_REPOSITORY_OVERRIDE;
    if (!chosen.includes("/")) {
      throw new PipelineError(
        "E_BAD_REFERENCE",
        `${what}: expected HOST/REPOSITORY (e.g. localhost:5000/team/app), got ${JSON.stringify(chosen)}`,
      );
    }
    if (chosen.includes("@") || /:[^/]*$/.test(chosen.slice(chosen.indexOf("/")))) {
      throw new PipelineError(
        "E_BAD_REFERENCE",
        `${what}: should not contain a tag or digest, got ${JSON.stringify(chosen)}`,
      );
    }
    const ref = parseReference(chosen, what);
    return { registry: ref.registry, repository: ref.repository };
  }
  validateRegistry(cfg.registry, `${cfg.label}: registry`);
  validateRepository(cfg.repository, `${cfg.label}: repository`);
  return { registry: cfg.registry, repository: cfg.repository };
}
