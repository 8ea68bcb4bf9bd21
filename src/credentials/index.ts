/**
 * rules_pipeline's own credential sources: a file of references (config.ts) matched by longest URL prefix
 * (url.ts), secrets read from files, environment variables or AWS Secrets Manager (secret.ts,
 * aws-secret.ts), and the registry keychain and git lookup built on them (keychain.ts).
 */
export {
  addCredential,
  credentialsConfigPath,
  loadCredentialsConfig,
  matchCredential,
  removeCredential,
  saveCredentialsConfig,
} from "./config";
export type { CredentialEntry, CredentialSource, CredentialsConfig, CredentialsPathOptions, LoadedCredentials } from "./config";
export type { CredentialService } from "./url";
export { describeEntry, describeSource, readSecret } from "./secret";
export type { CredentialSecret, PrivateKeySecret, ReadSecret, SecretOptions, TokenSecret, UserPasswordSecret } from "./secret";
export { gitCredential } from "./lookup";
export type { MatchedGitCredential, PipelineCredentialsOptions } from "./lookup";
