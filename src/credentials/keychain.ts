/**
 * rules_pipeline's credentials file as a registry Keychain (docker entries) and as a lookup for git URLs
 * (git entries). The file is read on each lookup (it is small); the secret only once a URL matches.
 */
import { PipelineError } from "../errors";
import type { Keychain, ResolvedCredential } from "../auth/keychain";
import { type CredentialEntry, type CredentialsPathOptions, credentialsConfigPath, loadCredentialsConfig, matchCredential } from "./config";
import { type CredentialSecret, isUserPassword, readSecret, type SecretOptions, SOURCE_ERROR } from "./secret";

export interface PipelineCredentialsOptions extends CredentialsPathOptions, SecretOptions {}

/** The docker entry for `registry` and `repository`, matched as `registry/repository`. */
export function pipelineCredentialsKeychain(opts: PipelineCredentialsOptions = {}): Keychain {
  // A push resolves once per repository: say each warning once.
  const warned = new Set<string>();
  const secretOpts: PipelineCredentialsOptions = {
    ...opts,
    onWarning: (m) => {
      if (warned.has(m)) return;
      warned.add(m);
      opts.onWarning?.(m);
    },
  };
  return {
    async resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined> {
      const { config } = loadCredentialsConfig(opts);
      if (!config.credentials.some((e) => e.service === "docker")) return undefined;
      const entry = matchCredential(config, "docker", repository ? `${registry}/${repository}` : registry);
      if (!entry) return undefined;
      const { secret, description } = await readSecret(entry, secretOpts);
      if (!isUserPassword(secret)) {
        throw new PipelineError(
          SOURCE_ERROR,
          `${description}: docker registries need a user name and a password, this source holds a ${secretKind(secret)}`,
        );
      }
      return { credential: { username: secret.username, password: secret.password }, source: description };
    },
    describe(): string {
      return `rules_pipeline credentials ${credentialsConfigPath(opts)}`;
    },
  };
}

function secretKind(s: CredentialSecret): string {
  return "privateKey" in s ? "private key" : "token" in s ? "token" : "user name and password";
}

/** A git credential: the entry that matched, its secret and where it came from. */
export interface MatchedGitCredential {
  entry: CredentialEntry;
  secret: CredentialSecret;
  /** `rules_pipeline credential "git https://github.com/org/" from env $GITHUB_TOKEN`. */
  description: string;
}

/** The git entry whose URL is the longest prefix of `url` (https://, ssh://, git@host:path), with its secret. */
export async function gitCredential(url: string, opts: PipelineCredentialsOptions = {}): Promise<MatchedGitCredential | undefined> {
  const { config } = loadCredentialsConfig(opts);
  const entry = matchCredential(config, "git", url);
  if (!entry) return undefined;
  const { secret, description } = await readSecret(entry, opts);
  return { entry, secret, description };
}
