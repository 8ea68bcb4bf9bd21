/**
 * The keychain the CLI uses: every credential source, first match wins (the CLI puts the explicit
 * `--username/--password-stdin` flags in front):
 *   1. rules_pipeline's own credentials (references in ~/.config/rules_pipeline/credentials.json: files, env,
 *      AWS Secrets Manager), matched by the longest `registry/repository` prefix;
 *   2. docker's config.json: credHelpers[host] → credsStore → auths[host];
 *   3. podman/skopeo's auth.json;
 * and anonymous when none answers.
 */
import { homedir } from "node:os";
import { pipelineCredentialsKeychain } from "./credentials-file";
import { authJsonKeychain } from "./auth-json";
import { dockerConfigKeychain } from "./docker-config";
import { chainKeychains, type Keychain } from "./keychain";

export interface DefaultKeychainOptions {
  env?: NodeJS.ProcessEnv;
  /** Home directory (default: $HOME, else the OS's). */
  home?: string;
  /** Where warnings go (a credential file others can read, ...). Dropped when absent. */
  warn?: (line: string) => void;
}

export function defaultKeychain(opts: DefaultKeychainOptions = {}): Keychain {
  const { env, warn } = opts;
  // One home for every source, from the environment the caller gave (not necessarily this process's).
  const home = opts.home ?? (env?.HOME || homedir());
  return chainKeychains(
    pipelineCredentialsKeychain({ env, home, onWarning: warn }),
    dockerConfigKeychain({ env, home, warn }),
    authJsonKeychain({ env, home, warn }),
  );
}
