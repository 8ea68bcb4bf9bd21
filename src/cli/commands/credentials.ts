/**
 * `pipeline credentials add|list|remove|test`: rules_pipeline's own credentials file (src/credentials).
 * The file holds references to secrets (a file, environment variables, an AWS secret), never secrets, so
 * `list` can show everything in it. `test` makes a real authenticated request: for docker through the
 * whole keychain chain it is given (GET /v2/, then the repository's tags), for git `git ls-remote`.
 */
import { spawn } from "node:child_process";
import { usageError as usage } from "../args";
import { homedir } from "node:os";
import { isAbsolute, resolve as resolvePath } from "node:path";
import { existsSync, statSync } from "node:fs";
import { PipelineError, redactUrl } from "../../errors";
import type { Keychain, ResolvedCredential } from "../../registry-auth/keychain";
import { isAnonymous } from "../../registry-auth/keychain";
import {
  addCredential,
  type CredentialEntry,
  type CredentialSource,
  loadCredentialsConfig,
  removeCredential,
  saveCredentialsConfig,
} from "../../credentials/config";
import { pipelineCredentialsKeychain } from "../../registry-auth/credentials-file";
import { gitCredential, type PipelineCredentialsOptions } from "../../credentials/lookup";
import { type CredentialSecret, describeSource, looseModeWarning } from "../../credentials/secret";
import { type CredentialService, normalizeDockerUrl, normalizeUrl, SERVICES } from "../../credentials/url";
import { RegistryClient } from "../../registry/client";
import { parseErrorBody, RegistryError } from "../../registry/errors";
import type { RetryOptions } from "../../registry/http";
import type { CliIo } from "../io";
import type { CommandInput } from "../args";
import type { CREDENTIALS_ADD, CREDENTIALS_LIST, CREDENTIALS_REMOVE, CREDENTIALS_TEST } from "../command-specs";

export const REJECTED = "E_CREDENTIAL_REJECTED";
export const NOT_FOUND = "E_CREDENTIAL_NOT_FOUND";

function service(value: string): CredentialService {
  if (!(SERVICES as readonly string[]).includes(value))
    throw usage(`service: expected "docker" or "git", got ${JSON.stringify(value)}`);
  return value as CredentialService;
}

/** Where the credentials file and `~/` paths are, and where warnings go, for a command's io. */
export function credentialsOptions(io: CliIo): PipelineCredentialsOptions {
  return { env: io.env, home: io.env.HOME || homedir(), onWarning: (m) => io.stderr(`warning: ${m}`) };
}

export type CredentialsAddArgs = CommandInput<typeof CREDENTIALS_ADD>;

function sourceOf(a: CredentialsAddArgs, io: CliIo): CredentialSource {
  const given = [
    a.file !== undefined && "--file",
    (a["env-user"] !== undefined || a["env-password"] !== undefined) && "--env-user/--env-password",
    a["env-token"] !== undefined && "--env-token",
    a["aws-secret"] !== undefined && "--aws-secret",
  ].filter((x): x is string => !!x);
  if (given.length !== 1) {
    throw usage(
      `give exactly one source: --file PATH, --env-user VAR --env-password VAR, --env-token VAR or --aws-secret ID` +
        (given.length ? ` (got ${given.join(" and ")})` : ""),
    );
  }
  if ((a["aws-region"] !== undefined || a["aws-profile"] !== undefined) && a["aws-secret"] === undefined) {
    throw usage("--aws-region and --aws-profile go with --aws-secret");
  }
  if (a.file !== undefined) {
    if (!a.file) throw usage("--file: expected a path");
    return { type: "file", path: a.file.startsWith("~/") || isAbsolute(a.file) ? a.file : resolvePath(io.cwd, a.file) };
  }
  if (a["env-token"] !== undefined) {
    if (a.service === "docker")
      throw usage(
        "--env-token is for git; docker registries need a user name: use --env-user and --env-password (the token as the password)",
      );
    return { type: "env", token: a["env-token"] };
  }
  if (a["env-user"] !== undefined || a["env-password"] !== undefined) {
    if (!a["env-user"] || !a["env-password"]) throw usage("--env-user and --env-password go together");
    return { type: "env", username: a["env-user"], password: a["env-password"] };
  }
  const out: CredentialSource = { type: "aws-secret", secretId: a["aws-secret"] ?? "" };
  if (a["aws-region"] !== undefined) out.region = a["aws-region"];
  if (a["aws-profile"] !== undefined) out.profile = a["aws-profile"];
  return out;
}

/** Things worth telling about a new entry's source right away (nothing that reads a secret). */
function sourceNotes(source: CredentialSource, opts: PipelineCredentialsOptions): string[] {
  const env = opts.env ?? process.env;
  if (source.type === "env") {
    const names = "token" in source ? [source.token] : [source.username, source.password];
    return names
      .filter((n) => !env[n])
      .map((n) => `environment variable ${n} is not set here; it must be where the credential is used`);
  }
  if (source.type === "file") {
    const path = source.path.startsWith("~/") ? resolvePath(opts.home ?? homedir(), source.path.slice(2)) : source.path;
    if (!existsSync(path)) return [`credential file ${path} does not exist yet`];
    const loose = looseModeWarning(path, statSync(path).mode);
    return loose ? [loose] : [];
  }
  return [];
}

/** `credentials add SERVICE URL --file PATH | --env-user U --env-password P | --env-token T | --aws-secret ID`. */
export async function credentialsAdd(a: CredentialsAddArgs, io: CliIo): Promise<void> {
  const svc = service(a.service);
  normalizeUrl(svc, a.url, "url");
  const source = sourceOf(a, io);
  const entry: CredentialEntry = { service: svc, url: a.url, source };
  const opts = credentialsOptions(io);
  const loaded = loadCredentialsConfig(opts);
  const { config, replaced } = addCredential(loaded.config, entry);
  saveCredentialsConfig(loaded.path, config);
  for (const note of sourceNotes(source, opts)) io.stderr(`warning: ${note}`);
  io.stderr(`${replaced ? "replaced" : "added"} ${svc} ${a.url} (${describeSource(source)}) in ${loaded.path}`);
}

/** `credentials list [--json]`: service, URL and source of each entry (the file holds no secrets). */
export async function credentialsList(a: CommandInput<typeof CREDENTIALS_LIST>, io: CliIo): Promise<void> {
  const { path, exists, config } = loadCredentialsConfig(credentialsOptions(io));
  if (a.json) {
    io.stdout(JSON.stringify(config, null, 2));
    return;
  }
  if (!config.credentials.length) {
    io.stderr(`no credentials in ${path}${exists ? "" : " (the file does not exist)"}`);
    return;
  }
  const rows = [
    ["SERVICE", "URL", "SOURCE"],
    ...config.credentials.map((e) => [e.service, e.url, describeSource(e.source)]),
  ];
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) io.stdout(`${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2]}`);
}

/** `credentials remove SERVICE URL`: the entry for exactly that URL (compared normalized). */
export async function credentialsRemove(a: CommandInput<typeof CREDENTIALS_REMOVE>, io: CliIo): Promise<void> {
  const svc = service(a.service);
  normalizeUrl(svc, a.url, "url");
  const loaded = loadCredentialsConfig(credentialsOptions(io));
  const { config, removed } = removeCredential(loaded.config, svc, a.url);
  if (!removed) {
    const same = loaded.config.credentials.filter((e) => e.service === svc).map((e) => e.url);
    throw new PipelineError(
      NOT_FOUND,
      `no ${svc} credential for ${JSON.stringify(a.url)} in ${loaded.path}` +
        (same.length ? ` (${svc} entries: ${same.map((u) => JSON.stringify(u)).join(", ")})` : ""),
    );
  }
  saveCredentialsConfig(loaded.path, config);
  io.stderr(`removed ${svc} ${removed.url} (${describeSource(removed.source)}) from ${loaded.path}`);
}

/** `withGitAuth` of src/git/auth.ts: runs `fn` with an environment in which git authenticates to `url`. */
export type WithGitAuth = <T>(
  url: string,
  cred: CredentialSecret | undefined,
  fn: (env: NodeJS.ProcessEnv) => Promise<T>,
  opts?: { baseEnv?: NodeJS.ProcessEnv },
) => Promise<T>;

export interface CredentialsTestDeps {
  /** docker: the keychain to resolve through (default: rules_pipeline's credentials only). */
  keychain?: Keychain;
  /** git: where a URL's credential comes from (default: rules_pipeline's credentials). */
  gitCredential?: (url: string) => Promise<{ secret: CredentialSecret; description: string } | undefined>;
  /** git: the auth plumbing (default: src/git/auth.ts). */
  withGitAuth?: WithGitAuth;
  /** git binary (default "git" on PATH). */
  git?: string;
  /** Registry retries (tests make them short). */
  retry?: RetryOptions;
}

/** `credentials test SERVICE URL [--insecure]`: resolves the credential and makes an authenticated request. */
export async function credentialsTest(
  a: CommandInput<typeof CREDENTIALS_TEST>,
  io: CliIo,
  deps: CredentialsTestDeps = {},
): Promise<void> {
  const svc = service(a.service);
  if (svc === "docker") await testDocker(a.url, a.insecure ?? false, io, deps);
  else await testGit(a.url, io, deps);
}

function rejected(message: string, cause?: unknown): PipelineError {
  return new PipelineError(REJECTED, message, cause !== undefined ? { cause } : undefined);
}

async function testDocker(url: string, insecure: boolean, io: CliIo, deps: CredentialsTestDeps): Promise<void> {
  const target = normalizeDockerUrl(url, "url");
  const registry = target.host;
  const repository = target.segments.length ? target.segments.join("/") : undefined;
  const where = repository ? `${registry}/${repository}` : registry;
  const keychain = deps.keychain ?? pipelineCredentialsKeychain(credentialsOptions(io));

  const found = await keychain.resolve(registry, repository);
  if (!found || isAnonymous(found.credential)) {
    throw new PipelineError(NOT_FOUND, `no docker credential for ${where}; looked in ${keychain.describe()}`);
  }
  io.stdout(`credential for ${where}: ${found.source}`);

  // The client asks the keychain again on a challenge: answer with what was just resolved (an AWS secret
  // is read once) and note whether the registry asked at all.
  let used = false;
  const memo: Keychain = {
    async resolve(r: string, repo?: string): Promise<ResolvedCredential | undefined> {
      used = true;
      return r === registry && repo === repository ? found : keychain.resolve(r, repo);
    },
    describe: () => keychain.describe(),
  };
  const client = new RegistryClient(registry, { keychain: memo, insecure, retry: deps.retry });
  const refused = (e: unknown): never => {
    if (e instanceof RegistryError && (e.status === 401 || e.status === 403)) {
      const why =
        e.status === 401
          ? "401 Unauthorized"
          : `403 Forbidden${e.entries.length ? `: ${e.entries.map((x) => x.code).join(", ")}` : ""}`;
      io.stdout(`rejected: registry ${registry} refused ${found.source} (${why})`);
      throw rejected(`registry ${registry} rejected ${found.source} for ${where} (${why})`, e);
    }
    throw e;
  };

  const ping = await client
    .send({ method: "GET", path: "/v2/", repository, operation: `GET /v2/ on ${registry}` })
    .catch(refused);
  if (ping.status !== 200) refused(await client.fail(ping, repository, `GET /v2/ on ${registry}`));
  await ping.discard();
  io.stdout(`GET /v2/: ${used ? "authenticated" : "answered without asking for credentials"}`);

  if (repository) {
    const operation = `list tags of ${where}`;
    const res = await client
      .send({ method: "GET", path: `/v2/${repository}/tags/list?n=1`, repository, operation })
      .catch(refused);
    if (res.status === 404) {
      const codes = parseErrorBody(await res.text(64 * 1024).catch(() => "")).map((e) => e.code);
      io.stdout(
        `tags of ${repository}: accepted (the repository does not exist yet${codes.length ? `: ${codes.join(", ")}` : ""})`,
      );
    } else if (res.status === 200) {
      await res.discard();
      io.stdout(`tags of ${repository}: accepted`);
    } else refused(await client.fail(res, repository, operation));
  }
  if (!used) {
    io.stdout(`ok: ${where} allows anonymous access; it never asked for ${found.source}, which was not checked`);
    return;
  }
  io.stdout(`ok: registry ${registry} accepted ${found.source}`);
}

const GIT_REJECTED = [
  /authentication failed/i,
  /could not read (username|password)/i,
  /permission denied/i,
  /access denied/i,
  /invalid username or password/i,
  /the requested url returned error: 40[13]\b/i,
  /terminal prompts disabled/i,
];

interface GitRun {
  code: number | null;
  refs: number;
  stderr: string;
}

function runGit(git: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(git, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let refs = 0;
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (c: Buffer) => {
      for (const b of c) if (b === 10) refs++;
    });
    child.stderr.on("data", (c: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += c.toString("utf8");
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new PipelineError("E_GIT", `cannot run ${git}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, refs, stderr });
    });
  });
}

async function testGit(url: string, io: CliIo, deps: CredentialsTestDeps): Promise<void> {
  normalizeUrl("git", url, "url");
  const opts = credentialsOptions(io);
  const found = await (deps.gitCredential ? deps.gitCredential(url) : gitCredential(url, opts));
  if (!found)
    throw new PipelineError(
      NOT_FOUND,
      `no git credential for ${redactUrl(url)}; looked in rules_pipeline credentials ${loadCredentialsConfig(opts).path}`,
    );
  io.stdout(`credential for ${redactUrl(url)}: ${found.description}`);
  const withGitAuth: WithGitAuth = deps.withGitAuth ?? (await import("../../git/auth.js")).withGitAuth;
  const { sanitizeGitOutput } = await import("../../git/redact.js");
  const run = await withGitAuth(url, found.secret, (env) => runGit(deps.git ?? "git", ["ls-remote", "--", url], env), {
    baseEnv: io.env,
  });
  if (run.code === 0) {
    io.stdout(`git ls-remote: ${run.refs} ref(s)`);
    io.stdout(`ok: ${redactUrl(url)} accepted ${found.description}`);
    return;
  }
  const stderr = sanitizeGitOutput(run.stderr, found.secret).trim();
  const detail = stderr.split("\n").slice(-3).join("; ");
  if (GIT_REJECTED.some((re) => re.test(stderr))) {
    io.stdout(`rejected: ${redactUrl(url)} refused ${found.description}`);
    throw rejected(`git server rejected ${found.description} for ${redactUrl(url)}: ${detail}`);
  }
  throw new PipelineError(
    "E_GIT",
    `git ls-remote ${redactUrl(url)} failed (${run.code === null ? "killed" : `exit ${run.code}`}): ${detail || "no message"}`,
  );
}
