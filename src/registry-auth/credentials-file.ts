/**
 * rules_pipeline's credentials file (src/credentials/) as a registry Keychain: its docker entries. The file is read
 * on each lookup (it is small); the secret only once a URL matches. Its git entries: src/credentials/lookup.ts.
 */
import { credentialsConfigPath, loadCredentialsConfig, matchCredential } from "../credentials/config";
import type { PipelineCredentialsOptions } from "../credentials/lookup";
import { type CredentialSecret, isUserPassword, readSecret, SOURCE_ERROR } from "../credentials/secret";
import { PipelineError } from "../errors";
import type { Keychain, ResolvedCredential } from "./keychain";

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
