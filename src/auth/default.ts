/**
 * The keychain the CLI uses when none is given: every credential source, first match wins (after the explicit
 * `--username/--password-stdin` flags, which the CLI puts in front):
 *   docker's config.json (credHelpers[host] → credsStore → auths), then podman/skopeo's auth.json.
 * Docker's own order goes first because Bazel users mostly `docker login`; auth.json serves podman users.
 */
import { authJsonKeychain } from "./auth-json";
import { dockerConfigKeychain, DockerConfigOptions } from "./docker-config";
import { chainKeychains, Keychain } from "./keychain";

export function defaultKeychain(opts: DockerConfigOptions = {}): Keychain {
  return chainKeychains(dockerConfigKeychain(opts), authJsonKeychain(opts));
}
