/**
 * Docker credential helpers (`docker-credential-NAME`, github.com/docker/docker-credential-helpers): the
 * `get` verb reads a server URL on stdin and answers `{"ServerURL","Username","Secret"}` on stdout; a
 * Username of `<token>` means the Secret is an identity (refresh) token. A helper that has nothing for the
 * server exits non-zero saying "credentials not found", which is "no credential" here, not an error.
 *
 * The helper's stdout may hold the secret, so nothing from it ever reaches a message: errors quote the
 * helper's stderr only (truncated). Helpers are looked up on the PATH of the environment passed in.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { PipelineError } from "../errors";
import { DOCKER_HUB, normalizeRegistry } from "../oci/reference";
import type { Credential, Keychain, ResolvedCredential } from "./keychain";

export const HELPER_PREFIX = "docker-credential-";
/** How long a helper may take to answer (they may unlock a keyring, call a cloud API...). */
export const DEFAULT_HELPER_TIMEOUT_MS = 30_000;
/** The server URL docker gives helpers for Docker Hub. */
export const DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/";

const MAX_STDOUT = 1024 * 1024;
const MAX_STDERR_KEPT = 4096;
const MAX_STDERR_SHOWN = 300;
const NOT_FOUND_RE = /credentials not found/i;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface CredentialHelperOptions {
  /** Environment: PATH to find helpers on, and the helper's own environment (default process.env). */
  env?: Record<string, string | undefined>;
  /** Home directory; given to the helper as HOME when the environment has none. */
  home?: string;
  /** Kill a helper that has not answered after this long (default 30 s). */
  helperTimeoutMs?: number;
}

/** Where a helper was configured, for messages: `credHelpers["ghcr.io"] in docker config /x/config.json`. */
export interface HelperContext {
  /** The registry host the credential is for. */
  registry: string;
  /** `credHelpers["ghcr.io"]`, `credsStore`. */
  setting?: string;
  /** `docker config /x/config.json`, `auth.json /run/user/1000/containers/auth.json`. */
  file?: string;
}

/** What docker writes on a helper's stdin for a registry host: Docker Hub's legacy URL, else the host. */
export function helperServerUrl(registry: string): string {
  const host = normalizeRegistry(registry.toLowerCase());
  return host === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : registry;
}

/** `gh` → `docker-credential-gh`. */
export function helperExecutable(name: string): string {
  return HELPER_PREFIX + name;
}

/** The source text 401 messages show: `credHelpers["ghcr.io"] → docker-credential-gh (docker config /x)`. */
export function helperSource(name: string, ctx: HelperContext): string {
  const head = ctx.setting ? `${ctx.setting} → ${helperExecutable(name)}` : helperExecutable(name);
  return ctx.file ? `${head} (${ctx.file})` : head;
}

function where(name: string, ctx: HelperContext): string {
  const setting = ctx.setting
    ? `, from ${ctx.setting}${ctx.file ? ` in ${ctx.file}` : ""}`
    : ctx.file
      ? `, from ${ctx.file}`
      : "";
  return `credential helper ${helperExecutable(name)} (for registry ${ctx.registry}${setting})`;
}

function helperError(name: string, ctx: HelperContext, what: string): PipelineError {
  return new PipelineError("E_CRED_HELPER", `${where(name, ctx)}: ${what}`);
}

/** The absolute PATH entries searched for helpers (relative and empty entries are skipped, like Go's LookPath). */
export function searchPath(env: Record<string, string | undefined>): string[] {
  return (env.PATH ?? "").split(":").filter((d) => d && isAbsolute(d));
}

/** The helper executable's absolute path, or undefined when no PATH entry holds an executable file by that name. */
export function findHelper(name: string, env: Record<string, string | undefined>): string | undefined {
  const file = helperExecutable(name);
  for (const dir of searchPath(env)) {
    const candidate = join(dir, file);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here (or not executable): keep looking
    }
  }
  return undefined;
}

interface HelperRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  overflow: boolean;
}

function run(
  file: string,
  input: string,
  env: Record<string, string | undefined>,
  timeoutMs: number,
): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let overflow = false;
    let stderr = "";
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const finish = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A grandchild may still hold the pipes open: stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
      const stdout = Buffer.concat(out);
      out.length = 0;
      resolve({ code: exited?.code ?? null, signal: exited?.signal ?? null, stdout, stderr, timedOut, overflow });
    };
    const timer = setTimeout(() => {
      if (!exited) child.kill("SIGKILL");
      finish(true);
    }, timeoutMs);
    child.stdout.on("data", (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_STDOUT) {
        overflow = true;
        child.kill("SIGKILL");
      } else out.push(c);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => {
      if (stderr.length < MAX_STDERR_KEPT) stderr += c.slice(0, MAX_STDERR_KEPT - stderr.length);
    });
    child.stdin.on("error", () => undefined); // a helper that exits without reading stdin
    child.once("error", (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      exited = { code, signal };
    });
    child.once("close", () => finish(false));
    child.stdin.end(input);
  });
}

/** One line of the helper's stderr for a message: control characters removed, truncated. */
function clipStderr(stderr: string): string {
  const text = stderr
    .replace(/[\x00-\x1f\x7f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > MAX_STDERR_SHOWN ? `${text.slice(0, MAX_STDERR_SHOWN)}…` : text;
}

function parseAnswer(name: string, ctx: HelperContext, stdout: Buffer): Credential | undefined {
  let body: unknown;
  try {
    body = JSON.parse(stdout.toString("utf8"));
  } catch {
    throw helperError(name, ctx, `answered malformed JSON (${stdout.length} bytes on stdout, not shown)`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw helperError(name, ctx, "answered malformed JSON (expected an object with Username and Secret; not shown)");
  }
  const { Username: username, Secret: secret } = body as { Username?: unknown; Secret?: unknown };
  if (
    (username !== undefined && typeof username !== "string") ||
    (secret !== undefined && typeof secret !== "string")
  ) {
    throw helperError(name, ctx, "answered malformed JSON (Username and Secret must be strings; not shown)");
  }
  if (!secret) return undefined; // nothing stored: same as "credentials not found"
  if (username === "<token>") return { identityToken: secret };
  if (!username) throw helperError(name, ctx, "answered a Secret without a Username");
  return { username, password: secret };
}

/**
 * Runs `docker-credential-NAME get` for a registry host. Returns undefined when the helper has no
 * credential for it; throws E_CRED_HELPER when the helper is missing, fails, hangs or answers nonsense.
 */
export async function getFromHelper(
  name: string,
  ctx: HelperContext,
  opts: CredentialHelperOptions = {},
): Promise<Credential | undefined> {
  if (!NAME_RE.test(name)) {
    throw new PipelineError(
      "E_CRED_HELPER",
      `invalid credential helper name ${JSON.stringify(name)} (for registry ${ctx.registry}${ctx.setting ? `, from ${ctx.setting}` : ""}` +
        `${ctx.file ? ` in ${ctx.file}` : ""}): expected the part after "${HELPER_PREFIX}", e.g. "desktop"`,
    );
  }
  const env = opts.env ?? process.env;
  const file = findHelper(name, env);
  if (!file) {
    const dirs = searchPath(env);
    throw helperError(
      name,
      ctx,
      `not found on PATH (searched ${dirs.length ? dirs.join(", ") : "nothing: PATH is empty"}); install it or fix the setting`,
    );
  }
  const childEnv = { ...env };
  if (!childEnv.HOME && opts.home) childEnv.HOME = opts.home;
  const timeoutMs = opts.helperTimeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  let result: HelperRun;
  try {
    result = await run(file, helperServerUrl(ctx.registry), childEnv, timeoutMs);
  } catch (e) {
    throw helperError(name, ctx, `cannot run ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (result.timedOut) throw helperError(name, ctx, `did not answer within ${timeoutMs / 1000} s and was killed`);
  if (result.overflow) throw helperError(name, ctx, `wrote more than ${MAX_STDOUT} bytes on stdout (not shown)`);
  if (result.code !== 0) {
    // Helpers print "credentials not found in native keychain" on stdout; only ever test it, never show stdout.
    if (NOT_FOUND_RE.test(result.stderr) || NOT_FOUND_RE.test(result.stdout.toString("utf8"))) return undefined;
    const status = result.signal ? `was killed by ${result.signal}` : `failed (exit ${result.code})`;
    const msg = clipStderr(result.stderr);
    const stdoutNote = result.stdout.length
      ? `; its stdout (${result.stdout.length} bytes) is not shown as it may hold secrets`
      : "";
    throw helperError(name, ctx, `${status}${msg ? `: ${msg}` : " with nothing on stderr"}${stdoutNote}`);
  }
  return parseAnswer(name, ctx, result.stdout);
}

/** A keychain asking one helper about every registry (what `credsStore` alone would do). */
export function credentialHelperKeychain(name: string, opts: CredentialHelperOptions = {}): Keychain {
  return {
    async resolve(registry: string): Promise<ResolvedCredential | undefined> {
      const credential = await getFromHelper(name, { registry }, opts);
      return credential ? { credential, source: helperSource(name, { registry }) } : undefined;
    },
    describe(): string {
      return `credential helper ${helperExecutable(name)}`;
    },
  };
}
