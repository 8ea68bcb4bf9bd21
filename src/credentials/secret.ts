/**
 * Reads the secret a credential entry points at:
 *  - file: the user name on line 1 and the password on line 2; for git also a single line (a token) or an
 *    SSH private key (`-----BEGIN ... PRIVATE KEY-----`). A file that group or others may read is used,
 *    with a warning.
 *  - env: the named variables.
 *  - aws-secret: an AWS Secrets Manager secret (aws-secret.ts).
 * Errors name the entry and its source, never the secret.
 */
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { PipelineError } from "../errors";
import type { CredentialEntry, CredentialSource } from "./config";
import { expandHome } from "./config";
import type { AwsClientOptions } from "./aws-secret";

export interface UserPasswordSecret {
  username: string;
  password: string;
}
export interface TokenSecret {
  token: string;
}
export interface PrivateKeySecret {
  /** An SSH private key in PEM/OpenSSH form. */
  privateKey: string;
}
export type CredentialSecret = UserPasswordSecret | TokenSecret | PrivateKeySecret;

/** A secret plus where it came from: `rules_pipeline credential "docker ghcr.io/org/" from file ~/.creds/ghcr`. */
export interface ReadSecret {
  secret: CredentialSecret;
  description: string;
}

export interface SecretOptions extends AwsClientOptions {
  /** Environment for env sources and AWS settings (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory for `~/` paths (default os.homedir()). */
  home?: string;
  /** Told about things worth fixing that do not stop the read (a credential file others can read). */
  onWarning?: (message: string) => void;
}

export const SOURCE_ERROR = "E_CREDENTIAL_SOURCE";
const MAX_FILE_BYTES = 1024 * 1024;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

export function isUserPassword(s: CredentialSecret): s is UserPasswordSecret {
  return "password" in s;
}
export function isToken(s: CredentialSecret): s is TokenSecret {
  return "token" in s;
}
export function isPrivateKey(s: CredentialSecret): s is PrivateKeySecret {
  return "privateKey" in s;
}

/** `file ~/.creds/ghcr`, `env $USER_VAR/$PASSWORD_VAR`, `env $TOKEN_VAR`, `AWS secret ci/ghcr (region eu-west-1)`. */
export function describeSource(source: CredentialSource): string {
  switch (source.type) {
    case "file":
      return `file ${source.path}`;
    case "env":
      return "token" in source ? `env $${source.token}` : `env $${source.username}/$${source.password}`;
    case "aws-secret": {
      const extra = [source.region && `region ${source.region}`, source.profile && `profile ${source.profile}`].filter(
        Boolean,
      );
      return `AWS secret ${source.secretId}${extra.length ? ` (${extra.join(", ")})` : ""}`;
    }
  }
}

/** `rules_pipeline credential "docker ghcr.io/org/" from file ~/.creds/ghcr`. */
export function describeEntry(entry: CredentialEntry): string {
  return `rules_pipeline credential ${JSON.stringify(`${entry.service} ${entry.url}`)} from ${describeSource(entry.source)}`;
}

/** Whether a credential file's mode lets group or others in; the warning to give, or undefined. */
export function looseModeWarning(path: string, mode: number): string | undefined {
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  return `credential file ${path} is accessible to group or others (mode ${octal}); run: chmod 600 ${path}`;
}

function fail(entry: CredentialEntry, message: string, cause?: unknown): PipelineError {
  return new PipelineError(
    SOURCE_ERROR,
    `${describeEntry(entry)}: ${message}`,
    cause !== undefined ? { cause } : undefined,
  );
}

function readCredentialFile(entry: CredentialEntry, path: string, opts: SecretOptions): CredentialSecret {
  const real = expandHome(path, opts.home ?? homedir());
  let text: string;
  try {
    const st = statSync(real);
    if (!st.isFile()) throw fail(entry, "not a regular file");
    if (st.size > MAX_FILE_BYTES)
      throw fail(entry, `larger than ${MAX_FILE_BYTES} bytes; expected a user name and a password, or a key`);
    const warning = looseModeWarning(real, st.mode);
    if (warning) opts.onWarning?.(warning);
    text = readFileSync(real, "utf8");
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(
      entry,
      code === "ENOENT" ? `file ${real} does not exist` : `cannot read ${real}: ${code ?? (e as Error).message}`,
    );
  }
  if (PRIVATE_KEY.test(text)) {
    if (entry.service !== "git")
      throw fail(
        entry,
        "the file holds a private key; docker credentials are a user name (line 1) and a password (line 2)",
      );
    return { privateKey: text.endsWith("\n") ? text : text + "\n" };
  }
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 1 && entry.service === "git" && lines[0].trim()) return { token: lines[0].trim() };
  if (lines.length !== 2 || !lines[0].trim() || !lines[1]) {
    throw fail(
      entry,
      `expected the user name on line 1 and the password on line 2${entry.service === "git" ? " (or a token on one line, or an SSH private key)" : ""}; found ${lines.length} line(s)`,
    );
  }
  return { username: lines[0].trim(), password: lines[1] };
}

function readEnv(entry: CredentialEntry, env: Record<string, string | undefined>, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw fail(entry, `environment variable ${name} is not set`);
  return value;
}

/** Secret JSON as stored in AWS Secrets Manager: {"username","password"}, {"token"} or {"private_key"}. */
export function secretFromJson(entry: CredentialEntry, text: string): CredentialSecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw fail(
      entry,
      'the secret is not JSON; expected {"username": ..., "password": ...}' +
        (entry.service === "git" ? ', {"token": ...} or {"private_key": ...}' : ""),
    );
  }
  const o = (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {}) as Record<
    string,
    unknown
  >;
  const str = (k: string) => (typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined);
  const keys =
    Object.keys(o)
      .map((k) => JSON.stringify(k))
      .join(", ") || "none";
  if (entry.service === "git") {
    const key = str("private_key");
    if (key) {
      if (!PRIVATE_KEY.test(key))
        throw fail(entry, '"private_key" does not hold a "-----BEGIN ... PRIVATE KEY-----" block');
      return { privateKey: key.endsWith("\n") ? key : key + "\n" };
    }
    const token = str("token");
    if (token && !("username" in o)) return { token };
  }
  const username = str("username");
  const password = str("password");
  if (username && password) return { username, password };
  const expected =
    entry.service === "git" ? '"username" and "password", "token", or "private_key"' : '"username" and "password"';
  throw fail(entry, `the secret's JSON must hold ${expected} as non-empty strings; its keys: ${keys}`);
}

/** Reads the secret an entry points at. */
export async function readSecret(entry: CredentialEntry, opts: SecretOptions = {}): Promise<ReadSecret> {
  const env = opts.env ?? process.env;
  const description = describeEntry(entry);
  const source = entry.source;
  let secret: CredentialSecret;
  switch (source.type) {
    case "file":
      secret = readCredentialFile(entry, source.path, opts);
      break;
    case "env":
      secret =
        "token" in source
          ? { token: readEnv(entry, env, source.token) }
          : { username: readEnv(entry, env, source.username), password: readEnv(entry, env, source.password) };
      break;
    case "aws-secret": {
      const { getAwsSecretString } = await import("./aws-secret.js");
      secret = secretFromJson(
        entry,
        await getAwsSecretString(source, { ...opts, env }, (m, cause) => fail(entry, m, cause)),
      );
      break;
    }
  }
  return { secret, description };
}
