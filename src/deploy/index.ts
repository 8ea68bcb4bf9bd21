/** The deployment model's public face: types, constructors, spec parsing, resolution and named secrets. */
export type {
  CodeDeployment,
  DeploymentSpec,
  EnvVar,
  GitRepositorySpec,
  InterpreterDeployment,
  ModelSpec,
  RepositoriesSpec,
  ResolvedDeployment,
  ResourcesSpec,
  SecretRef,
  SpecLocation,
} from "./types";
export {
  ContainerAtDigest,
  ContainerAtTag,
  ContainerInLayout,
  containerFromReference,
  DEPLOYMENT_ERROR,
  GitRepoBranch,
  GitRepoCommit,
  LockfileProject,
  mountPathProblem,
  NoCode,
  ServerAvailableFolder,
  ServerAvailableInterpreter,
} from "./model";
export {
  DEFAULT_MODEL_PATH,
  DEFAULT_REPOS_MOUNT,
  defaultName,
  deploymentSpecJsonSchema,
  loadDeploymentSpec,
  parseDeploymentSpec,
  SPEC_ERROR,
  SpecError,
} from "./spec";
export type { JsonSchema, ParseSpecOptions, SpecIssue } from "./spec";
export { resolveDeployment } from "./resolve";
export type { Platform, ResolveOptions } from "./resolve";
export { resolveNamedSecret, resolveRegistrySecret, secretEnvName, secretsDir, SECRET_NAME } from "./secrets";
export type { RegistrySecret, SecretLookupOptions } from "./secrets";
