/**
 * Credentials for git remotes that never leak: `withGitAuth` prepares the environment for git commands
 * against one remote URL so that git gets the credential without it appearing in a URL, in argv or in any
 * environment variable, and removes everything it wrote afterwards.
 *
 *  - HTTP(S): a one-shot credential helper, a shell script in a private temp dir (0700) that answers `get`
 *    for exactly this URL's protocol and host with what it reads from a FIFO (0600) beside it, which this
 *    process serves from memory while `fn` runs (credential-fifo.ts): the secret is never in a file, so a
 *    SIGKILL leaves none on disk. It is configured
 *    through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` after an empty `credential.helper=`,
 *    which clears the helper list, so the user's own helpers are neither asked nor told to store anything.
 *    `GIT_TERMINAL_PROMPT=0` and an empty `GIT_ASKPASS` make a rejected or missing credential fail at once
 *    instead of prompting.
 *  - SSH (`ssh://`, `git+ssh://`, scp-like `git@host:org/repo`): the key goes to a 0600 file and
 *    `GIT_SSH_COMMAND` runs `ssh -i FILE -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=...`;
 *    the user's known_hosts and ssh config still apply. Keys with a passphrase are not supported.
 *  - No credential: git runs with the user's own configuration (helpers, ssh-agent), terminal prompts off.
 *
 * The private dir (auth-dirs.ts): `.git-auth.tmp-<pid>-<start time>-<hex>` under `tmpDir` (default os.tmpdir()),
 * named after its owner so that the next start finds and removes what a killed runner left (and kills the git
 * it left running: the dir's path is in git's environment as PIPELINE_GIT_AUTH_DIR). The FIFO's server is
 * stopped and the dir's files are overwritten with zeros (the SSH key; the FIFO holds nothing) before it is
 * removed: when `fn` settles (also when it throws), at process exit, and when a signal ends the process
 * (src/process/signals.ts untilDone). Before the first dir a process writes under a base, the stale ones there are swept.
 *
 * A `{ token }` is sent over HTTP(S) with the user name `x-access-token` (TOKEN_USERNAME): GitHub requires
 * it for GitHub App installation tokens and accepts it for personal access tokens; GitLab and Azure DevOps
 * accept any non-empty user name with a personal access token. Servers that need a particular user name
 * (GitLab OAuth tokens: `oauth2`, Bitbucket: `x-token-auth`) take `{ username, password: token }`.
 */
import { chmod, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError, redactUrl } from "../errors";
import { AUTH_DIR_ENV, createAuthDir, removeAuthDirSync, sweepStaleAuthDirs } from "./auth-dirs";
import { RECORD_BYTES, serveCredentialFifo } from "./credential-fifo";
import { untilDone } from "../process/signals";
import { assertSafeGitUrl, credentialTarget, gitUrlKind } from "./url";

export type GitCredential = { username: string; password: string } | { token: string } | { privateKey: string };

/** The user name sent with a `{ token }` credential over HTTP(S). */
export const TOKEN_USERNAME = "x-access-token";

export type StrictHostKeyChecking = "yes" | "accept-new" | "no";

export interface GitAuthOptions {
  /** The environment to start from (default `process.env`); it is copied, never changed. */
  baseEnv?: NodeJS.ProcessEnv;
  /** ssh's StrictHostKeyChecking for SSH URLs with a key (default "accept-new"). */
  strictHostKeyChecking?: StrictHostKeyChecking;
  /** A known_hosts file to use instead of the user's, for SSH URLs with a key. */
  knownHostsFile?: string;
  /** Where the private temp dir is created (default `os.tmpdir()`); stale dirs there are swept first. */
  tmpDir?: string;
}

const HELPER_NAME = "credential-helper";
const SECRET_NAME = "credential";
const KEY_NAME = "id_key";

/**
 * Runs `fn` with an environment in which git commands against `url` authenticate with `cred`. The private
 * temp dir holding the helper or key is scrubbed and removed when `fn` settles (also when it throws) and, best
 * effort, when the process exits or is ended by SIGINT/SIGTERM/SIGHUP while `fn` runs.
 */
export async function withGitAuth<T>(
  url: string,
  cred: GitCredential | undefined,
  fn: (env: NodeJS.ProcessEnv) => Promise<T>,
  opts: GitAuthOptions = {},
): Promise<T> {
  assertSafeGitUrl(url);
  const env: NodeJS.ProcessEnv = { ...(opts.baseEnv ?? process.env), GIT_TERMINAL_PROMPT: "0" };
  if (cred === undefined) return fn(env);
  const kind = checkCredential(url, cred);
  const base = opts.tmpDir ?? tmpdir();
  sweepStaleAuthDirs(base, { once: true });
  const dir = await createAuthDir(base);
  let stopServing = () => {};
  const cleanUp = () => {
    stopServing();
    removeAuthDirSync(dir);
  };
  const done = untilDone(cleanUp);
  try {
    env[AUTH_DIR_ENV] = dir;
    if (kind === "ssh") await prepareSsh(dir, (cred as { privateKey: string }).privateKey, env, opts);
    else stopServing = await prepareHttp(dir, url, cred as BasicLike, env);
    return await fn(env);
  } finally {
    done();
    cleanUp();
  }
}

type BasicLike = { username: string; password: string } | { token: string };

/** Validates the credential against the URL's transport; returns the transport. */
function checkCredential(url: string, cred: GitCredential): "http" | "ssh" {
  const kind = gitUrlKind(url);
  const what = "privateKey" in cred ? "an SSH private key" : "token" in cred ? "a token" : "a user name and password";
  if (kind === "other") {
    throw new PipelineError(
      "E_GIT_CREDENTIAL",
      `git URL ${redactUrl(url)} is neither HTTP(S) nor SSH; it cannot take ${what}`,
    );
  }
  if ((kind === "ssh") !== "privateKey" in cred) {
    throw new PipelineError(
      "E_GIT_CREDENTIAL",
      `git URL ${redactUrl(url)} is ${kind === "ssh" ? "an SSH URL" : "an HTTP(S) URL"}; it cannot take ${what}` +
        (kind === "ssh" ? " (SSH needs a privateKey)" : " (HTTP(S) needs a user name and password or a token)"),
    );
  }
  const fields: [string, string][] =
    "privateKey" in cred
      ? [["privateKey", cred.privateKey]]
      : "token" in cred
        ? [["token", cred.token]]
        : [
            ["username", cred.username],
            ["password", cred.password],
          ];
  for (const [name, value] of fields) {
    if (typeof value !== "string" || value === "")
      throw new PipelineError("E_GIT_CREDENTIAL", `git credential for ${redactUrl(url)}: ${name} is empty`);
    if (name !== "privateKey" && /[\0\r\n]/.test(value)) {
      throw new PipelineError(
        "E_GIT_CREDENTIAL",
        `git credential for ${redactUrl(url)}: ${name} contains a line break or NUL`,
      );
    }
  }
  if (kind === "http" && Buffer.byteLength(httpAnswer(cred as BasicLike)) >= RECORD_BYTES) {
    const what = "token" in cred ? "the token is" : "the user name and password are";
    throw new PipelineError(
      "E_GIT_CREDENTIAL",
      `git credential for ${redactUrl(url)}: ${what} too long (the helper's answer must be shorter than ${RECORD_BYTES} bytes)`,
    );
  }
  return kind;
}

/** What the helper tells git. */
function httpAnswer(cred: BasicLike): string {
  return "token" in cred
    ? `username=${TOKEN_USERNAME}\npassword=${cred.token}\n`
    : `username=${cred.username}\npassword=${cred.password}\n`;
}

/** Writes the helper, starts serving the credential FIFO beside it; returns the server's stop. */
async function prepareHttp(dir: string, url: string, cred: BasicLike, env: NodeJS.ProcessEnv): Promise<() => void> {
  const { protocol, host } = credentialTarget(url);
  const secretPath = join(dir, SECRET_NAME);
  const helperPath = join(dir, HELPER_NAME);
  await writeFile(helperPath, helperScript(protocol, host, secretPath), { mode: 0o700, flag: "wx" });
  await chmod(helperPath, 0o700);
  const server = await serveCredentialFifo(secretPath, httpAnswer(cred));
  addGitConfig(env, [
    ["credential.helper", ""], // an empty value clears the helpers configured so far (system, global, repo)
    ["credential.helper", `!${shQuote(helperPath)}`],
    ["credential.useHttpPath", "true"],
  ]);
  env.GIT_ASKPASS = ""; // set but empty: git neither runs an askpass program nor falls back to core.askPass/SSH_ASKPASS
  return server.stop;
}

/**
 * The helper git runs as `HELPER get|store|erase` with the request on stdin. It answers only `get` and only
 * for the protocol and host it was written for, so a redirect to another host never receives the secret.
 * It takes one record from the FIFO with one read(2) (credential-fifo.ts) and passes on its lines up to the
 * padding; end-of-file (the server stopped) answers nothing.
 */
export function helperScript(protocol: string, host: string, secretPath: string): string {
  return [
    "#!/bin/sh",
    "# One-shot git credential helper written by rules_pipeline; removed when the git command is done.",
    'op="$1"; protocol=; host=',
    "while IFS= read -r line; do",
    '  case "$line" in',
    '    protocol=*) protocol="${line#protocol=}" ;;',
    '    host=*) host="${line#host=}" ;;',
    "  esac",
    "done",
    '[ "$op" = get ] || exit 0',
    `[ "$protocol" = ${shQuote(protocol)} ] && [ "$host" = ${shQuote(host)} ] || exit 0`,
    `dd bs=${RECORD_BYTES} count=1 2>/dev/null < ${shQuote(secretPath)} | sed -n '/^$/q;p'`,
    "",
  ].join("\n");
}

async function prepareSsh(
  dir: string,
  privateKey: string,
  env: NodeJS.ProcessEnv,
  opts: GitAuthOptions,
): Promise<void> {
  const keyPath = join(dir, KEY_NAME);
  let key = privateKey.replace(/\r\n/g, "\n");
  if (!key.endsWith("\n")) key += "\n"; // OpenSSH rejects a key without the final newline ("invalid format")
  await writeFile(keyPath, key, { mode: 0o600, flag: "wx" });
  await chmod(keyPath, 0o600);
  env.GIT_SSH_COMMAND = sshCommand(keyPath, opts);
  env.GIT_SSH_VARIANT = "ssh";
  delete env.GIT_SSH;
}

/** The `GIT_SSH_COMMAND` for a key file. */
export function sshCommand(
  keyPath: string,
  opts: Pick<GitAuthOptions, "strictHostKeyChecking" | "knownHostsFile"> = {},
): string {
  const parts = ["ssh", "-i", shQuote(keyPath), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"];
  parts.push("-o", `StrictHostKeyChecking=${opts.strictHostKeyChecking ?? "accept-new"}`);
  if (opts.knownHostsFile) parts.push("-o", shQuote(`UserKnownHostsFile=${opts.knownHostsFile}`));
  return parts.join(" ");
}

/**
 * Appends config entries after any the environment already has: after the `GIT_CONFIG_COUNT` list and, when
 * `GIT_CONFIG_PARAMETERS` (`git -c`, read after the count list) is set, after that too, so ours come last.
 */
function addGitConfig(env: NodeJS.ProcessEnv, entries: [string, string][]): void {
  const existing = Number.parseInt(env.GIT_CONFIG_COUNT ?? "0", 10);
  let n = Number.isFinite(existing) && existing > 0 ? existing : 0;
  for (const [key, value] of entries) {
    env[`GIT_CONFIG_KEY_${n}`] = key;
    env[`GIT_CONFIG_VALUE_${n}`] = value;
    n++;
  }
  env.GIT_CONFIG_COUNT = String(n);
  if (env.GIT_CONFIG_PARAMETERS) {
    env.GIT_CONFIG_PARAMETERS += entries.map(([k, v]) => ` ${shQuote(k)}=${shQuote(v)}`).join("");
  }
}

/** POSIX shell single-quoting. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
