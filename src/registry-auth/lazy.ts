/**
 * The default keychain, built on first use: reading docker config.json, credential files and the credential
 * modules costs start-up time that a registry answering without a 401 never needs (a no-op push to a local
 * registry). Errors and warnings come when a credential is first asked for, as they would from the real chain.
 */
import type { DefaultKeychainOptions } from "./default";
import type { Keychain, ResolvedCredential } from "./keychain";

export function lazyDefaultKeychain(opts: DefaultKeychainOptions = {}): Keychain {
  let chain: Promise<Keychain> | undefined;
  let loaded: Keychain | undefined;
  const load = () =>
    (chain ??= import("./default.js").then((m) => {
      loaded = m.defaultKeychain(opts);
      return loaded;
    }));
  return {
    async resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined> {
      return (await load()).resolve(registry, repository);
    },
    // Asked after resolve() (for "no credentials found; looked in ..."), so the chain is there by then.
    describe: () => loaded?.describe() ?? "the default credential sources",
  };
}
