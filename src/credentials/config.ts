/**
 * rules_pipeline's own credentials file: which credential to use for which docker registry or git server,
 * as references to where the secret lives (a file, environment variables, an AWS Secrets Manager secret),
 * never the secret itself.
 *
 *   $PIPELINE_CREDENTIALS_FILE, else $XDG_CONFIG_HOME/rules_pipeline/credentials.json, else
 *   ~/.config/rules_pipeline/credentials.json:
 *   { "version": 1, "credentials": [
 *       { "service": "docker", "url": "ghcr.io/org/", "source": { "type": "file", "path": "~/.creds/ghcr" } },
 *       { "service": "docker", "url": "ghcr.io", "source": { "type": "env", "username": "GHCR_USER", "password": "GHCR_TOKEN" } },
 *       { "service": "git", "url": "https://github.com/org/", "source": { "type": "env", "token": "GITHUB_TOKEN" } },
 *       { "service": "git", "url": "git@github.com", "source": { "type": "aws-secret", "secretId": "ci/deploy-key", "region": "eu-west-1" } } ] }
 *
 * The longest matching URL prefix wins (see url.ts). The file is written atomically with mode 0600.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { randomBytes } from "node:crypto";
import { PipelineError } from "../errors";
import { readNamedFileSync } from "../named-file";
import { type CredentialService, type NormalizedUrl, normalizeUrl, prefixScore, SERVICES, urlKey } from "./url";

export interface FileSource {
  type: "file";
  /** Absolute, or `~/...` (the home directory). */
  path: string;
}
export interface EnvUserSource {
  type: "env";
  /** Names of the variables holding the user name and the password. */
  username: string;
  password: string;
}
export interface EnvTokenSource {
  type: "env";
  /** Name of the variable holding a token (git over HTTPS). */
  token: string;
}
export interface AwsSecretSource {
  type: "aws-secret";
  /** Secret name or ARN; its value is JSON {"username","password"}, {"token"} or {"private_key"}. */
  secretId: string;
  region?: string;
  profile?: string;
}
export type CredentialSource = FileSource | EnvUserSource | EnvTokenSource | AwsSecretSource;

export interface CredentialEntry {
  service: CredentialService;
  url: string;
  source: CredentialSource;
}

export interface CredentialsConfig {
  version: 1;
  credentials: CredentialEntry[];
}

export interface CredentialsPathOptions {
  /** Environment to read PIPELINE_CREDENTIALS_FILE / XDG_CONFIG_HOME from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory (default os.homedir()). */
  home?: string;
  /** Explicit file (overrides env and home). */
  path?: string;
}

export interface LoadedCredentials {
  path: string;
  /** Whether the file exists (a missing file is an empty config). */
  exists: boolean;
  config: CredentialsConfig;
}

export const CONFIG_ERROR = "E_CREDENTIALS_CONFIG";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_ID = /^[A-Za-z0-9/_+=.@:!-]{1,2048}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

export function emptyConfig(): CredentialsConfig {
  return { version: 1, credentials: [] };
}

/** The credentials file in use. */
export function credentialsConfigPath(opts: CredentialsPathOptions = {}): string {
  if (opts.path) return opts.path;
  const env = opts.env ?? process.env;
  if (env.PIPELINE_CREDENTIALS_FILE) return env.PIPELINE_CREDENTIALS_FILE;
  // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
  if (env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME))
    return join(env.XDG_CONFIG_HOME, "rules_pipeline", "credentials.json");
  return join(opts.home ?? homedir(), ".config", "rules_pipeline", "credentials.json");
}

/** `~/x` → `<home>/x`; other paths as they are. */
export function expandHome(path: string, home: string = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** `credentials file FILE: credentials[2].source.path: expected ..., got "x"` (no file part when file is ""). */
function configError(file: string, where: string, message: string): PipelineError {
  return new PipelineError(
    CONFIG_ERROR,
    `${file ? `credentials file ${file}: ` : ""}${where}${where ? ": " : ""}${message}`,
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A value quoted for an error message (config values are references, never secrets). */
function shown(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
}

function onlyKeys(file: string, where: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      // The value is not shown: a field that does not belong here might be someone's pasted secret.
      throw configError(file, where, `unknown field ${JSON.stringify(key)} (allowed: ${allowed.join(", ")})`);
    }
  }
}

function requireString(file: string, where: string, v: unknown, expected: string, ok: (s: string) => boolean): string {
  if (typeof v !== "string" || !ok(v)) throw configError(file, where, `expected ${expected}, got ${shown(v)}`);
  return v;
}

function validateSource(file: string, where: string, service: CredentialService, v: unknown): CredentialSource {
  if (!isObject(v)) throw configError(file, where, `expected an object with a "type", got ${shown(v)}`);
  const envName = "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
  switch (v.type) {
    case "file":
      onlyKeys(file, where, v, ["type", "path"]);
      return {
        type: "file",
        path: requireString(
          file,
          `${where}.path`,
          v.path,
          'an absolute path or one starting with "~/"',
          (s) => isAbsolute(s) || s.startsWith("~/"),
        ),
      };
    case "env":
      onlyKeys(file, where, v, ["type", "username", "password", "token"]);
      if (v.token !== undefined) {
        if (v.username !== undefined || v.password !== undefined) {
          throw configError(file, where, 'give either "token" or "username" and "password", not both');
        }
        if (service === "docker") {
          throw configError(
            file,
            `${where}.token`,
            'docker registries need a user name: use "username" and "password" (the token as the password)',
          );
        }
        return { type: "env", token: requireString(file, `${where}.token`, v.token, envName, (s) => ENV_NAME.test(s)) };
      }
      if (v.username === undefined && v.password === undefined)
        throw configError(file, where, 'expected "username" and "password", or "token"');
      return {
        type: "env",
        username: requireString(file, `${where}.username`, v.username, envName, (s) => ENV_NAME.test(s)),
        password: requireString(file, `${where}.password`, v.password, envName, (s) => ENV_NAME.test(s)),
      };
    case "aws-secret": {
      onlyKeys(file, where, v, ["type", "secretId", "region", "profile"]);
      const out: AwsSecretSource = {
        type: "aws-secret",
        secretId: requireString(file, `${where}.secretId`, v.secretId, "a secret name or ARN", (s) =>
          SECRET_ID.test(s),
        ),
      };
      if (v.region !== undefined)
        out.region = requireString(file, `${where}.region`, v.region, 'an AWS region like "eu-west-1"', (s) =>
          REGION.test(s),
        );
      if (v.profile !== undefined)
        out.profile = requireString(file, `${where}.profile`, v.profile, "an AWS profile name", (s) =>
          /^[A-Za-z0-9_.+@-]+$/.test(s),
        );
      return out;
    }
    default:
      throw configError(file, `${where}.type`, `expected "file", "env" or "aws-secret", got ${shown(v.type)}`);
  }
}

/** Validates one entry; `where` is e.g. `credentials[2]`. Throws E_CREDENTIALS_CONFIG naming file, field and value. */
export function validateEntry(file: string, where: string, v: unknown): CredentialEntry {
  if (!isObject(v))
    throw configError(file, where, `expected an object with "service", "url" and "source", got ${shown(v)}`);
  onlyKeys(file, where, v, ["service", "url", "source"]);
  if (typeof v.service !== "string" || !(SERVICES as readonly string[]).includes(v.service)) {
    throw configError(file, `${where}.service`, `expected "docker" or "git", got ${shown(v.service)}`);
  }
  const service = v.service as CredentialService;
  if (typeof v.url !== "string" || !v.url)
    throw configError(file, `${where}.url`, `expected a non-empty string, got ${shown(v.url)}`);
  try {
    normalizeUrl(service, v.url, `${where}.url`);
  } catch (e) {
    throw e instanceof PipelineError ? configError(file, "", e.message) : e;
  }
  if (v.source === undefined) throw configError(file, `${where}.source`, "missing");
  return { service, url: v.url, source: validateSource(file, `${where}.source`, service, v.source) };
}

/** Validates a parsed credentials file. */
export function validateConfig(file: string, parsed: unknown): CredentialsConfig {
  if (!isObject(parsed))
    throw configError(file, "", `expected a JSON object {"version": 1, "credentials": [...]}, got ${shown(parsed)}`);
  onlyKeys(file, "", parsed, ["version", "credentials"]);
  if (parsed.version !== 1) throw configError(file, "version", `expected 1, got ${shown(parsed.version)}`);
  const list = parsed.credentials ?? [];
  if (!Array.isArray(list)) throw configError(file, "credentials", `expected an array, got ${shown(list)}`);
  const credentials = list.map((e, i) => validateEntry(file, `credentials[${i}]`, e));
  const seen = new Map<string, number>();
  credentials.forEach((e, i) => {
    const key = `${e.service} ${urlKey(normalizeUrl(e.service, e.url))}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw configError(
        file,
        `credentials[${i}].url`,
        `${shown(e.url)} is the same ${e.service} URL as credentials[${first}].url ${shown(credentials[first].url)}`,
      );
    }
    seen.set(key, i);
  });
  return { version: 1, credentials };
}

/** No credentials file: an empty config, not an error. */
class NoCredentialsFile extends Error {}

/** Reads and validates the credentials file; a missing file is an empty config. */
export function loadCredentialsConfig(opts: CredentialsPathOptions = {}): LoadedCredentials {
  const path = credentialsConfigPath(opts);
  let text: string;
  try {
    // The one reader of files the environment or a flag names (src/named-file.ts): a regular file of at most 4 MiB.
    text = readNamedFileSync(path, {
      what: "credentials file",
      bound: 4 * 1024 * 1024,
      code: CONFIG_ERROR,
      missing: () => new NoCredentialsFile(),
    }).toString("utf8");
  } catch (e) {
    if (e instanceof NoCredentialsFile) return { path, exists: false, config: emptyConfig() };
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    throw configError(path, "", `not valid JSON${pos ? ` (at position ${pos[1]})` : ""}`);
  }
  return { path, exists: true, config: validateConfig(path, parsed) };
}

/**
 * Writes the config atomically: a temp file beside it (mode 0600), fsync, rename over the old one. The
 * directory is created (mode 0700) when missing.
 */
export function saveCredentialsConfig(path: string, config: CredentialsConfig): void {
  const valid = validateConfig(path, config);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${randomBytes(6).toString("hex")}.credentials.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    try {
      writeSync(fd, JSON.stringify(valid, null, 2) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or gone */
    }
    throw new PipelineError(
      CONFIG_ERROR,
      `cannot write credentials file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function sameUrl(a: CredentialEntry, service: CredentialService, url: NormalizedUrl): boolean {
  return a.service === service && urlKey(normalizeUrl(a.service, a.url)) === urlKey(url);
}

/**
 * The config with `entry` added, replacing an entry for the same service and (normalized) URL.
 * `replaced` is the entry it replaced.
 */
export function addCredential(
  config: CredentialsConfig,
  entry: CredentialEntry,
): { config: CredentialsConfig; replaced?: CredentialEntry } {
  const valid = validateEntry("", "credential", entry);
  const key = normalizeUrl(valid.service, valid.url);
  const index = config.credentials.findIndex((e) => sameUrl(e, valid.service, key));
  const credentials = [...config.credentials];
  if (index >= 0) credentials[index] = valid;
  else credentials.push(valid);
  return { config: { version: 1, credentials }, replaced: index >= 0 ? config.credentials[index] : undefined };
}

/** The config without the entry for `service` and `url` (compared normalized); `removed` is undefined when there was none. */
export function removeCredential(
  config: CredentialsConfig,
  service: CredentialService,
  url: string,
): { config: CredentialsConfig; removed?: CredentialEntry } {
  const key = normalizeUrl(service, url);
  const index = config.credentials.findIndex((e) => sameUrl(e, service, key));
  if (index < 0) return { config };
  return {
    config: { version: 1, credentials: config.credentials.filter((_, i) => i !== index) },
    removed: config.credentials[index],
  };
}

/** The entry whose URL is the longest prefix of `url` for `service`, or undefined. */
export function matchCredential(
  config: CredentialsConfig,
  service: CredentialService,
  url: string,
): CredentialEntry | undefined {
  const target = normalizeUrl(service, url);
  let best: { entry: CredentialEntry; score: number } | undefined;
  for (const entry of config.credentials) {
    if (entry.service !== service) continue;
    const score = prefixScore(normalizeUrl(service, entry.url), target);
    if (score !== undefined && (!best || score > best.score)) best = { entry, score };
  }
  return best?.entry;
}
