/**
 * Credentials for registries. A Keychain resolves a registry host to a credential and says where it came
 * from; keychains chain (first match wins) and the chain falls back to anonymous access. Each credential
 * source (docker config.json auths, credential helpers, env, ...) is one small file implementing Keychain.
 */

/** A user name and password (or a registry token used as a password). */
export interface BasicCredential {
  readonly username: string;
  readonly password: string;
}

/** An OAuth2 refresh token (docker config.json `identitytoken`), exchanged at the registry's token realm. */
export interface IdentityTokenCredential {
  readonly identityToken: string;
  readonly username?: string;
}

export interface AnonymousCredential {
  readonly anonymous: true;
}

export type Credential = BasicCredential | IdentityTokenCredential | AnonymousCredential;

export const ANONYMOUS: AnonymousCredential = Object.freeze({ anonymous: true as const });

/** A credential plus a human description of its source, e.g. `docker config /x/config.json auths["ghcr.io"]`. */
export interface ResolvedCredential {
  readonly credential: Credential;
  readonly source: string;
}

export interface Keychain {
  /**
   * The credential for a registry host (`localhost:5000`, `ghcr.io`, `index.docker.io`) and, when known, the
   * repository being accessed (sources may scope a credential to a repository prefix), or undefined when this
   * source has none. Throws a PipelineError when the source exists but is malformed.
   */
  resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined>;
  /** Where this source looks, for "no credentials found; looked in ..." messages. */
  describe(): string;
}

export function isBasic(c: Credential): c is BasicCredential {
  return "password" in c && typeof (c as BasicCredential).password === "string";
}

export function isIdentityToken(c: Credential): c is IdentityTokenCredential {
  return "identityToken" in c;
}

export function isAnonymous(c: Credential): c is AnonymousCredential {
  return "anonymous" in c;
}

/** Tries each keychain in order; the first one with a credential for the registry wins. */
export function chainKeychains(...keychains: Keychain[]): Keychain {
  return {
    async resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined> {
      for (const k of keychains) {
        const found = await k.resolve(registry, repository);
        if (found) return found;
      }
      return undefined;
    },
    describe(): string {
      return keychains.map((k) => k.describe()).join(", ") || "no credential sources";
    },
  };
}

/**
 * Asks `keychain` once per registry and repository for as long as this keychain lives (one command: a push of
 * several images or platforms, its SBOM and signatures), so a credential helper runs once, not once per
 * registry client. A failure is not remembered: the next ask tries again.
 */
export function memoKeychain(keychain: Keychain): Keychain {
  const answers = new Map<string, Promise<ResolvedCredential | undefined>>();
  return {
    resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined> {
      const key = JSON.stringify([registry, repository ?? null]);
      let answer = answers.get(key);
      if (!answer) {
        answer = keychain.resolve(registry, repository);
        answers.set(key, answer);
        answer.catch(() => answers.delete(key));
      }
      return answer;
    },
    describe: () => keychain.describe(),
  };
}

/**
 * Resolves a registry's credential through a keychain, falling back to anonymous with a source that says
 * where it looked (the text error messages show for a 401).
 */
export async function resolveCredential(
  keychain: Keychain,
  registry: string,
  repository?: string,
): Promise<ResolvedCredential> {
  const found = await keychain.resolve(registry, repository);
  if (found) return found;
  return { credential: ANONYMOUS, source: `no credentials found; looked in ${keychain.describe()}` };
}
