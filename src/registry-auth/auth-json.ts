/**
 * Credentials from containers-auth.json(5), the file podman, skopeo and buildah log in to:
 * `$REGISTRY_AUTH_FILE` alone when set, else `$XDG_RUNTIME_DIR/containers/auth.json` then
 * `$XDG_CONFIG_HOME/containers/auth.json` (default `~/.config/containers/auth.json`); the first file with a
 * credential for the registry wins, as in containers/image.
 * Same format as docker's config.json `auths`, except that keys may name a repository or namespace
 * (`quay.io/team/app`, `quay.io/team`): the longest key that is a prefix of `host/repository` (on path
 * boundaries) wins. `credHelpers[host]` in a file overrides its `auths`, as in containers/image.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { normalizeRegistry } from "../oci/reference";
import type { CredentialHelperOptions } from "./cred-helper";
import { type AuthFile, entryCredential, readAuthFile, resolveCredHelper, warnOnce } from "./docker-config";
import type { Keychain, ResolvedCredential } from "./keychain";

export interface AuthJsonOptions extends CredentialHelperOptions {
  /** Environment: REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, PATH (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory (default os.homedir()). */
  home?: string;
  /** Receives one line per problem worth a warning (e.g. a credentials file others can read); once per file. */
  warn?: (line: string) => void;
}

const CODE = "E_AUTH_JSON";

/** The auth.json files consulted, in order. */
export function authJsonPaths(opts: AuthJsonOptions = {}): string[] {
  const env = opts.env ?? process.env;
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const paths: string[] = [];
  if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  paths.push(join(env.XDG_CONFIG_HOME || join(opts.home ?? homedir(), ".config"), "containers", "auth.json"));
  return paths;
}

/**
 * An auth.json key in canonical form: `https://host/v1/` → `host` (a key with a scheme names a host only);
 * `Docker.IO/library/x` → `index.docker.io/library/x`; trailing slashes dropped.
 */
export function normalizeAuthJsonKey(key: string): string {
  let k = key.trim();
  const schemed = /^https?:\/\//i.test(k);
  k = k.replace(/^https?:\/\//i, "");
  const slash = k.indexOf("/");
  const host = normalizeRegistry((slash < 0 ? k : k.slice(0, slash)).toLowerCase());
  const path = schemed || slash < 0 ? "" : k.slice(slash + 1).replace(/\/+$/, "");
  return path ? `${host}/${path}` : host;
}

/** The keys to try for `host/repository`, most specific first: `h/a/b/c`, `h/a/b`, `h/a`, `h`. */
export function authJsonCandidates(registry: string, repository?: string): string[] {
  const host = normalizeRegistry(registry.toLowerCase());
  const out = [host];
  let prefix = host;
  for (const part of (repository ?? "").split("/").filter(Boolean)) {
    prefix = `${prefix}/${part}`;
    out.unshift(prefix);
  }
  return out;
}

function fromAuths(file: AuthFile, registry: string, repository?: string): ResolvedCredential | undefined {
  const byKey = new Map<string, string[]>();
  for (const key of Object.keys(file.auths)) {
    const n = normalizeAuthJsonKey(key);
    const list = byKey.get(n) ?? [];
    // A key written exactly as the host wins over one that only normalizes to it.
    if (key === registry) list.unshift(key);
    else list.push(key);
    byKey.set(n, list);
  }
  for (const candidate of authJsonCandidates(registry, repository)) {
    for (const key of byKey.get(candidate) ?? []) {
      const where = `${file.label} auths[${JSON.stringify(key)}]`;
      const credential = entryCredential(where, CODE, file.auths[key]);
      if (credential) return { credential, source: where };
    }
  }
  return undefined;
}

/** A keychain over podman/skopeo/buildah's auth.json files (see the file comment). Files are read on each resolve. */
export function authJsonKeychain(opts: AuthJsonOptions = {}): Keychain {
  const warned = new Set<string>();
  return {
    async resolve(registry: string, repository?: string): Promise<ResolvedCredential | undefined> {
      for (const path of authJsonPaths(opts)) {
        const file = readAuthFile(path, "auth.json", CODE);
        if (!file) continue;
        warnOnce(file, warned, opts.warn);
        const helped = await resolveCredHelper(file, registry, opts);
        if (helped !== null) return helped;
        const found = fromAuths(file, registry, repository);
        if (found) return found;
      }
      return undefined;
    },
    describe(): string {
      return authJsonPaths(opts)
        .map((p) => `auth.json ${p}`)
        .join(", ");
    },
  };
}
