/** Credentials given explicitly (`--username` + `--password-stdin`): the first link of the chain, for one registry. */
import { normalizeRegistry } from "../oci/reference";
import type { BasicCredential, Keychain, ResolvedCredential } from "./keychain";

export function explicitKeychain(
  registry: string,
  credential: BasicCredential,
  source = "--username/--password-stdin",
): Keychain {
  const host = normalizeRegistry(registry);
  return {
    async resolve(reg: string): Promise<ResolvedCredential | undefined> {
      return normalizeRegistry(reg) === host ? { credential, source } : undefined;
    },
    describe: () => `${source} (for ${host})`,
  };
}
