/**
 * Credentials from docker's config.json (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), in
 * docker's order for a registry host: `credHelpers[host]` (that helper alone decides), then `credsStore`
 * (a helper for every registry; "credentials not found" falls through), then `auths[host]`.
 * `auths` entries are keyed by host, `https://host`, `http://host/v1/`...; an entry holds `auth` (base64
 * user:pass), `username`/`password`, or `identitytoken`. Docker Hub's aliases all find the same entry and
 * helpers are asked for `https://index.docker.io/v1/`. Entries with none of those (docker writes `{}` when a
 * credsStore holds the secret) are skipped so a later keychain can answer.
 *
 * The file parsing here is shared with auth.json (podman, skopeo), which uses the same format.
 */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type ErrorCode, PipelineError } from "../errors";
import { readNamedFileSync } from "../named-file";
import { normalizeRegistry } from "../oci/reference";
import { type CredentialHelperOptions, getFromHelper, helperSource } from "./cred-helper";
import type { Credential, Keychain, ResolvedCredential } from "./keychain";

export interface DockerConfigOptions extends CredentialHelperOptions {
  /** Environment to read DOCKER_CONFIG and PATH (for credential helpers) from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory (default os.homedir()). */
  home?: string;
  /** Explicit config.json path (overrides env and home). */
  path?: string;
  /** Receives one line per problem worth a warning (e.g. a credentials file others can read); once per file. */
  warn?: (line: string) => void;
}

export interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

/** A parsed config.json or auth.json: the parts that hold credentials. */
export interface AuthFile {
  path: string;
  /** `docker config /x/config.json`, `auth.json /y/auth.json`: how messages name it. */
  label: string;
  auths: Record<string, AuthEntry>;
  credHelpers: Record<string, string>;
  credsStore?: string;
  /** Permission bits (`stat.mode & 0o777`). */
  mode: number;
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

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Reads and checks a docker-format credentials file (`auths`, `credHelpers`, `credsStore`); undefined when it
 * does not exist. Errors (code `code`) name the file and never quote its content.
 */
/** A credentials file that is not there: no credentials from it, not an error. */
class NoSuchFile extends Error {}

/** The most a credentials file may hold: a few hundred registries' entries fit in far less. */
const MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024;

export function readAuthFile(path: string, kind: string, code: ErrorCode): AuthFile | undefined {
  const label = `${kind} ${path}`;
  let text: string;
  let mode: number;
  try {
    // The one reader of files the environment or a flag names (src/named-file.ts): a regular file of at most 4 MiB.
    text = readNamedFileSync(path, {
      what: kind,
      bound: MAX_AUTH_FILE_BYTES,
      code,
      missing: () => new NoSuchFile(path),
    }).toString("utf8");
    mode = statSync(path).mode & 0o777;
  } catch (e) {
    if (e instanceof NoSuchFile || (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (e instanceof PipelineError) throw e;
    throw new PipelineError(code, `cannot read ${label}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the text around the error, which may hold a secret: keep only the position.
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new PipelineError(
      code,
      `${label} is not valid JSON${pos ? ` (at position ${pos[1]})` : ""}; fix or remove it`,
    );
  }
  if (!isObject(parsed)) throw new PipelineError(code, `${label}: expected a JSON object`);
  const { auths, credHelpers, credsStore } = parsed;
  if (auths !== undefined && auths !== null && !isObject(auths)) {
    throw new PipelineError(code, `${label}: "auths" must be an object`);
  }
  if (credHelpers !== undefined && credHelpers !== null) {
    if (!isObject(credHelpers)) throw new PipelineError(code, `${label}: "credHelpers" must be an object`);
    for (const [key, value] of Object.entries(credHelpers)) {
      if (typeof value !== "string" || !value) {
        throw new PipelineError(
          code,
          `${label}: credHelpers[${JSON.stringify(key)}] must be a helper name such as "gcloud"`,
        );
      }
    }
  }
  if (credsStore !== undefined && credsStore !== null && typeof credsStore !== "string") {
    throw new PipelineError(code, `${label}: "credsStore" must be a helper name such as "desktop"`);
  }
  return {
    path,
    label,
    auths: (auths ?? {}) as Record<string, AuthEntry>,
    credHelpers: (credHelpers ?? {}) as Record<string, string>,
    credsStore: credsStore || undefined,
    mode,
  };
}

function hasSecret(entry: AuthEntry): boolean {
  return (
    isObject(entry) &&
    ["auth", "password", "identitytoken"].some(
      (k) => typeof entry[k as keyof AuthEntry] === "string" && entry[k as keyof AuthEntry],
    )
  );
}

/** A warning when a file holding secrets can be read by group or others, else undefined. */
export function permissionWarning(file: AuthFile): string | undefined {
  if ((file.mode & 0o077) === 0 || !Object.values(file.auths).some(hasSecret)) return undefined;
  return (
    `${file.label} holds credentials but is readable by group/others (mode ${file.mode.toString(8).padStart(3, "0")}); ` +
    `run chmod 600 ${file.path}`
  );
}

/** Calls `warn` with the file's permission warning, once per path for the `warned` set. */
export function warnOnce(file: AuthFile, warned: Set<string>, warn: ((line: string) => void) | undefined): void {
  if (!warn || warned.has(file.path)) return;
  warned.add(file.path);
  const w = permissionWarning(file);
  if (w) warn(w);
}

/** The credential an `auths` entry holds, or undefined for an entry with no secret. `where` names the entry. */
export function entryCredential(where: string, code: ErrorCode, entry: AuthEntry): Credential | undefined {
  if (!isObject(entry)) {
    throw new PipelineError(code, `${where}: expected an object`);
  }
  const username = typeof entry.username === "string" && entry.username ? entry.username : undefined;
  if (typeof entry.identitytoken === "string" && entry.identitytoken) {
    return { identityToken: entry.identitytoken, username };
  }
  if (typeof entry.auth === "string" && entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0 || !/^[A-Za-z0-9+/=\s]+$/.test(entry.auth)) {
      throw new PipelineError(code, `${where}: "auth" must be base64 of "username:password"`);
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (username && typeof entry.password === "string") return { username, password: entry.password };
  return undefined;
}

/** The `credHelpers` key for a registry host: an exact key first, else one naming the same host (aliases fold). */
export function credHelperKey(credHelpers: Record<string, string>, registry: string): string | undefined {
  if (Object.hasOwn(credHelpers, registry)) return registry;
  const wanted = normalizeRegistry(registry.toLowerCase());
  return Object.keys(credHelpers).find((k) => registryOfAuthKey(k) === wanted);
}

/** `credHelpers[host]` of a file through its helper: the credential, or null when the file names no helper. */
export async function resolveCredHelper(
  file: AuthFile,
  registry: string,
  opts: CredentialHelperOptions,
): Promise<ResolvedCredential | undefined | null> {
  const key = credHelperKey(file.credHelpers, registry);
  if (key === undefined) return null;
  const name = file.credHelpers[key];
  const ctx = { registry, setting: `credHelpers[${JSON.stringify(key)}]`, file: file.label };
  const credential = await getFromHelper(name, ctx, opts);
  return credential ? { credential, source: helperSource(name, ctx) } : undefined;
}

function fromAuths(file: AuthFile, registry: string): ResolvedCredential | undefined {
  const wanted = normalizeRegistry(registry.toLowerCase());
  // An exact key wins over a normalized match (e.g. "localhost:5000" over "https://localhost:5000").
  const keys = Object.keys(file.auths);
  const ordered = [...keys.filter((k) => k === registry), ...keys.filter((k) => k !== registry)];
  for (const key of ordered) {
    if (registryOfAuthKey(key) !== wanted) continue;
    const where = `${file.label} auths[${JSON.stringify(key)}]`;
    const credential = entryCredential(where, "E_DOCKER_CONFIG", file.auths[key]);
    if (credential) return { credential, source: where };
  }
  return undefined;
}

/**
 * A keychain over docker's config.json: credHelpers, credsStore, auths (see the file comment). The file is
 * read on each resolve (it is small); helpers are run each time they are needed.
 */
export function dockerConfigKeychain(opts: DockerConfigOptions = {}): Keychain {
  const warned = new Set<string>();
  return {
    async resolve(registry: string): Promise<ResolvedCredential | undefined> {
      const file = readAuthFile(dockerConfigPath(opts), "docker config", "E_DOCKER_CONFIG");
      if (!file) return undefined;
      warnOnce(file, warned, opts.warn);
      // credHelpers[host] decides alone, as in docker: "not found" there means no credential from this file.
      const helped = await resolveCredHelper(file, registry, opts);
      if (helped !== null) return helped;
      if (file.credsStore) {
        const ctx = { registry, setting: "credsStore", file: file.label };
        const credential = await getFromHelper(file.credsStore, ctx, opts);
        if (credential) return { credential, source: helperSource(file.credsStore, ctx) };
      }
      return fromAuths(file, registry);
    },
    describe(): string {
      return `docker config ${dockerConfigPath(opts)}`;
    },
  };
}
