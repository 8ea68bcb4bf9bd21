/**
 * Named secrets, the values behind `SECRET:name` in a deployment spec and behind `containerRegistry: name`.
 * Looked up, first match wins:
 *   1. the environment variable PIPELINE_SECRET_<NAME> (upper-cased, every character outside [A-Z0-9] → `_`);
 *   2. the file <dir>/<name>, where <dir> is $PIPELINE_SECRETS_DIR, else $XDG_CONFIG_HOME/rules_pipeline/secrets,
 *      else ~/.config/rules_pipeline/secrets (one trailing newline is dropped).
 * Values are returned to the caller and never printed; errors name the secret, never its value.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { readNamedFileSync } from "../named-file";

export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export interface SecretLookupOptions {
  env?: Record<string, string | undefined>;
  home?: string;
}

export function secretEnvName(name: string): string {
  return `PIPELINE_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export function secretsDir(opts: SecretLookupOptions = {}): string {
  const env = opts.env ?? process.env;
  if (env.PIPELINE_SECRETS_DIR) return env.PIPELINE_SECRETS_DIR;
  const config = env.XDG_CONFIG_HOME || join(opts.home ?? env.HOME ?? homedir(), ".config");
  return join(config, "rules_pipeline", "secrets");
}

/** The value of the named secret; E_SECRET_NOT_FOUND says where it was looked for. */
export function resolveNamedSecret(name: string, opts: SecretLookupOptions = {}): string {
  if (!SECRET_NAME.test(name)) {
    throw new PipelineError(
      "E_SECRET_NAME",
      `secret name ${JSON.stringify(name)} is not valid (letters, digits, '.', '_', '-')`,
    );
  }
  const env = opts.env ?? process.env;
  const fromEnv = env[secretEnvName(name)];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const file = join(secretsDir(opts), name);
  // A regular file of at most 1 MiB (a Kubernetes Secret's own bound), read by the one reader (src/named-file.ts).
  const text = readNamedFileSync(file, {
    what: `secret ${JSON.stringify(name)}`,
    bound: 1024 * 1024,
    code: "E_SECRET_READ",
    missing: () =>
      new PipelineError(
        "E_SECRET_NOT_FOUND",
        `secret ${JSON.stringify(name)} not found: set ${secretEnvName(name)} or create ${file}`,
      ),
  }).toString("utf8");
  const value = text.replace(/\r?\n$/, "");
  if (value === "") throw new PipelineError("E_SECRET_EMPTY", `secret ${JSON.stringify(name)} in ${file} is empty`);
  return value;
}

export interface RegistrySecret {
  username: string;
  password: string;
}

/**
 * A registry credential by name: the secret holds JSON {"username","password"} or two lines (user, password).
 * Used for `containerRegistry:` (image pulls, Kubernetes imagePullSecrets).
 */
export function resolveRegistrySecret(name: string, opts: SecretLookupOptions = {}): RegistrySecret {
  const value = resolveNamedSecret(name, opts);
  const bad = () =>
    new PipelineError(
      "E_SECRET_FORMAT",
      `secret ${JSON.stringify(name)}: expected JSON {"username","password"} or two lines (user, password)`,
    );
  if (value.trimStart().startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw bad();
    }
    const o = parsed as Record<string, unknown>;
    if (typeof o.username !== "string" || typeof o.password !== "string" || !o.username || !o.password) throw bad();
    return { username: o.username, password: o.password };
  }
  const lines = value.split(/\r?\n/);
  if (lines.length !== 2 || !lines[0] || !lines[1]) throw bad();
  return { username: lines[0], password: lines[1] };
}
