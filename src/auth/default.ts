/**
 * The keychain the CLI uses when none is given: every credential source in docker's order. Sources added
 * later (credential helpers, auth.json, env) go into this list.
 */
import { dockerConfigKeychain, DockerConfigOptions } from "./docker-config";
import { chainKeychains, Keychain } from "./keychain";

export function defaultKeychain(opts: DockerConfigOptions = {}): Keychain {
  return chainKeychains(dockerConfigKeychain(opts));
}
