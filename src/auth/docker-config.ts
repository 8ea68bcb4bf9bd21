/**
 * Credentials from docker's config.json `auths` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
 * Entries are keyed by host, `https://host`, `http://host/v1/`...; an entry holds `auth` (base64 user:pass),
 * `username`/`password`, or `identitytoken`. Docker Hub's aliases all find the same entry.
 * Entries with none of those (docker writes `{}` when a credsStore holds the secret) are skipped so a
 * later keychain can answer.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { normalizeRegistry } from "../oci/reference";
import type { Credential, Keychain, ResolvedCredential } from "./keychain";

export interface DockerConfigOptions {
  /** Environment to read DOCKER_CONFIG from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory (default os.homedir()). */
  home?: string;
  /** Explicit config.json path (overrides env and home). */
  path?: string;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

/** The config.json docker would read. */
export function dockerConfigPath(opts: DockerConfigOptions = {}): string {
  if (opts.path) return opts.path;
  const env = opts.env ?? process.env;
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return join(opts.home ?? homedir(), ".docker", "config.json");
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `http://host:5000/v2` → `host:5000`. */
export function registryOfAuthKey(key: string): string {
  const noScheme = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  const host = noScheme.split("/")[0].toLowerCase();
  return normalizeRegistry(host);
}

function readConfig(path: string): Record<string, AuthEntry> | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PipelineError("E_DOCKER_CONFIG", `cannot read docker config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the text around the error, which may hold a secret: keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new PipelineError(
      "E_DOCKER_CONFIG",
      `docker config ${path} is not valid JSON${pos ? ` (at position ${pos[1]})` : ""}; fix or remove it`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new PipelineError("E_DOCKER_CONFIG", `docker config ${path}: expected a JSON object`);
  }
  const auths = (parsed as { auths?: unknown }).auths;
  if (auths === undefined || auths === null) return {};
  if (typeof auths !== "object" || Array.isArray(auths)) {
    throw new PipelineError("E_DOCKER_CONFIG", `docker config ${path}: "auths" must be an object`);
  }
  return auths as Record<string, AuthEntry>;
}

function entryCredential(path: string, key: string, entry: AuthEntry): Credential | undefined {
  const where = `docker config ${path} auths[${JSON.stringify(key)}]`;
  if (entry === null || typeof entry !== "object") {
    throw new PipelineError("E_DOCKER_CONFIG", `${where}: expected an object`);
  }
  const username = typeof entry.username === "string" && entry.username ? entry.username : undefined;
  if (typeof entry.identitytoken === "string" && entry.identitytoken) {
    return { identityToken: entry.identitytoken, username };
  }
  if (typeof entry.auth === "string" && entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0 || !/^[A-Za-z0-9+/=\s]+$/.test(entry.auth)) {
      throw new PipelineError("E_DOCKER_CONFIG", `${where}: "auth" must be base64 of "username:password"`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (username && typeof entry.password === "string") return { username, password: entry.password };
  return undefined;
}

/** A keychain over docker's config.json `auths`. The file is read on each resolve (it is small). */
export function dockerConfigKeychain(opts: DockerConfigOptions = {}): Keychain {
  return {
    async resolve(registry: string): Promise<ResolvedCredential | undefined> {
      const path = dockerConfigPath(opts);
      const auths = readConfig(path);
      if (!auths) return undefined;
      const wanted = normalizeRegistry(registry.toLowerCase());
      // An exact key wins over a normalized match (e.g. "localhost:5000" over "https://localhost:5000").
      const keys = Object.keys(auths);
      const ordered = [...keys.filter((k) => k === registry), ...keys.filter((k) => k !== registry)];
      for (const key of ordered) {
        if (registryOfAuthKey(key) !== wanted) continue;
        const credential = entryCredential(path, key, auths[key]);
        if (credential) return { credential, source: `docker config ${path} auths[${JSON.stringify(key)}]` };
      }
      return undefined;
    },
    describe(): string {
      return `docker config ${dockerConfigPath(opts)}`;
    },
  };
}
