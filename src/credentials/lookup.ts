/**
 * Lookups in rules_pipeline's credentials file: the options every lookup takes (where the file is, how secrets are
 * read) and the git lookup. The file is read on each lookup (it is small); the secret only once a URL matches. The
 * registry lookup is a Keychain among the others: src/registry-auth/credentials-file.ts.
 */
import { type CredentialEntry, type CredentialsPathOptions, loadCredentialsConfig, matchCredential } from "./config";
import { type CredentialSecret, readSecret, type SecretOptions } from "./secret";

export interface PipelineCredentialsOptions extends CredentialsPathOptions, SecretOptions {}

/** A git credential: the entry that matched, its secret and where it came from. */
export interface MatchedGitCredential {
  entry: CredentialEntry;
  secret: CredentialSecret;
  /** `rules_pipeline credential "git https://github.com/org/" from env $GITHUB_TOKEN`. */
  description: string;
}

/** The git entry whose URL is the longest prefix of `url` (https://, ssh://, git@host:path), with its secret. */
export async function gitCredential(
  url: string,
  opts: PipelineCredentialsOptions = {},
): Promise<MatchedGitCredential | undefined> {
  const { config } = loadCredentialsConfig(opts);
  const entry = matchCredential(config, "git", url);
  if (!entry) return undefined;
  const { secret, description } = await readSecret(entry, opts);
  return { entry, secret, description };
}
