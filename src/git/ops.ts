/**
 * The git operations pipelines need against private remotes: resolve a branch to a commit, check out one
 * commit into a new directory, and bring an existing clone to a commit. Git runs through execFile (no shell)
 * with credentials supplied by `withGitAuth`; argv never holds a secret, and error messages carry git's
 * stderr with URL userinfo redacted and the credential masked.
 *
 * Git runs in a process group of its own (spawned detached) with stdin closed, so that what it starts
 * (git-remote-http, the credential helper, ssh) goes with it: the group gets SIGKILL on the timeout, on the
 * caller's `signal` and at process exit, and SIGINT/SIGTERM/SIGHUP are passed on to it (src/process/signals.ts untilDone), as a
 * terminal would have done. What a SIGKILL of this process leaves running is killed at the next start
 * (auth-dirs.ts).
 *
 * Error codes: E_GIT_AUTH (the server wants a credential: none given, or the one given was rejected),
 * E_GIT_REF_NOT_FOUND (no such branch/ref, or the commit is not in the remote), E_GIT_URL / E_GIT_CREDENTIAL
 * (bad input), E_GIT (anything else git reports, with its stderr).
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, rm } from "node:fs/promises";
import { PipelineError, redactUrl } from "../errors";
import { type GitAuthOptions, type GitCredential, withGitAuth } from "./auth";
import { untilDone } from "../process/signals";
import { sanitizeGitOutput } from "./redact";
import { assertSafeGitUrl } from "./url";
import { COMMIT_RE } from "../oci/grammar";
import { lowSpeedEnv } from "./low-speed";

export interface GitOpOptions extends Omit<GitAuthOptions, "baseEnv"> {
  /** The credential for the remote; without one git uses the user's own configuration. */
  credential?: GitCredential;
  /** The environment git runs in (default `process.env`); GIT_DIR and similar repository overrides are dropped. */
  env?: NodeJS.ProcessEnv;
  /** Kill git after this long (default: 2 minutes for ls-remote, 10 minutes for fetches). */
  timeoutMs?: number;
  /** The git executable (default `git` on PATH). */
  git?: string;
  /** Abort to kill git (its whole process group) at once; the operation then fails with E_GIT. */
  signal?: AbortSignal;
}

const LS_REMOTE_TIMEOUT_MS = 2 * 60_000;
const FETCH_TIMEOUT_MS = 10 * 60_000;
// Repository overrides a caller's environment may carry (e.g. when run from a git hook); they would redirect `-C dir`.
const REPO_ENV = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
];

/**
 * Resolves `ref` on the remote to a commit id: a branch name (`main` → `refs/heads/main`), a full ref
 * (`refs/tags/v1`, annotated tags are peeled to their commit) or `HEAD`.
 */
export async function lsRemote(url: string, ref: string, opts: GitOpOptions = {}): Promise<string> {
  assertSafeGitUrl(url);
  const full = ref === "HEAD" || ref.startsWith("refs/") ? ref : `refs/heads/${ref}`;
  checkRefName(full);
  const out = await withGitAuth(
    url,
    opts.credential,
    (env) =>
      runRemote(["ls-remote", "--", url, full, `${full}^{}`], {
        url,
        opts,
        env,
        timeoutMs: opts.timeoutMs ?? LS_REMOTE_TIMEOUT_MS,
      }),
    authOptions(opts),
  );
  const refs = new Map<string, string>();
  for (const line of out.stdout.split("\n")) {
    const [sha, name] = line.split("\t");
    if (name && COMMIT_RE.test(sha)) refs.set(name, sha);
  }
  const sha = refs.get(`${full}^{}`) ?? refs.get(full);
  if (!sha) {
    const what = full.startsWith("refs/heads/") ? `branch "${full.slice("refs/heads/".length)}"` : `ref "${full}"`;
    throw new PipelineError(
      "E_GIT_REF_NOT_FOUND",
      `${what} not found in ${redactUrl(url)} (git ls-remote listed no ${full})`,
    );
  }
  return sha;
}

/**
 * Checks out `commit` (a full commit id) from `url` into `dir`, which must not exist or be empty: `git init`,
 * `remote add origin URL`, a depth-1 fetch of that commit (falling back to fetching all branches and tags
 * from servers that refuse unadvertised commits), then a detached checkout. `dir` is removed on failure
 * when this call created it.
 */
export async function cloneAt(url: string, commit: string, dir: string, opts: GitOpOptions = {}): Promise<void> {
  assertSafeGitUrl(url);
  checkCommit(commit);
  let existed = true;
  try {
    if ((await readdir(dir)).length > 0)
      throw new PipelineError("E_GIT", `cannot clone ${redactUrl(url)} into ${dir}: the directory is not empty`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    existed = false;
  }
  try {
    await mkdir(dir, { recursive: true });
    const env = localEnv(opts);
    await runLocal(["init", "--quiet", dir], { opts, env });
    await runLocal(["-C", dir, "remote", "add", "origin", url], { opts, env });
    await fetchCommit(dir, "origin", url, commit, opts);
    await checkout(dir, commit, opts);
  } catch (e) {
    if (!existed) await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Brings the existing clone in `dir` to `commit`: fetches it (from `url`, default the `origin` remote) unless
 * it is already there, then checks it out detached. Local changes that the checkout would overwrite make git
 * fail (E_GIT); they are never discarded.
 */
export async function fetchCheckout(
  dir: string,
  commit: string,
  opts: GitOpOptions & { url?: string } = {},
): Promise<void> {
  checkCommit(commit);
  const env = localEnv(opts);
  if (!(await hasCommit(dir, commit, opts, env))) {
    const remote = opts.url ?? "origin";
    const url = opts.url ?? (await runLocal(["-C", dir, "remote", "get-url", "origin"], { opts, env })).stdout.trim();
    assertSafeGitUrl(url);
    await fetchCommit(dir, remote, url, commit, opts);
  }
  await checkout(dir, commit, opts);
}

async function fetchCommit(
  dir: string,
  remote: string,
  url: string,
  commit: string,
  opts: GitOpOptions,
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? FETCH_TIMEOUT_MS;
  await withGitAuth(
    url,
    opts.credential,
    async (env) => {
      const base = ["-C", dir, "fetch", "--quiet", "--no-tags"];
      try {
        await runRemote([...base, "--depth", "1", "--", remote, commit], { url, opts, env, timeoutMs });
        return;
      } catch (e) {
        // Protocol v0/v1 servers without uploadpack.allowReachableSHA1InWant only serve advertised tips.
        if (!(e instanceof PipelineError && e.code === "E_GIT" && UNADVERTISED_RE.test(e.message))) throw e;
      }
      const shallow =
        (await runLocal(["-C", dir, "rev-parse", "--is-shallow-repository"], { opts, env })).stdout.trim() === "true";
      const refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
      await runRemote([...base, ...(shallow ? ["--unshallow"] : []), "--", remote, ...refspecs], {
        url,
        opts,
        env,
        timeoutMs,
      });
    },
    authOptions(opts),
  );
  if (!(await hasCommit(dir, commit, opts, localEnv(opts)))) {
    throw new PipelineError("E_GIT_REF_NOT_FOUND", `commit ${commit} not found in ${redactUrl(url)}`);
  }
}

const UNADVERTISED_RE = /unadvertised object|not our ref|couldn't find remote ref/i;

async function checkout(dir: string, commit: string, opts: GitOpOptions): Promise<void> {
  await runLocal(["-C", dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit, "--"], {
    opts,
    env: localEnv(opts),
  });
}

async function hasCommit(dir: string, commit: string, opts: GitOpOptions, env: NodeJS.ProcessEnv): Promise<boolean> {
  const r = await execGit(opts.git ?? "git", ["-C", dir, "cat-file", "-e", `${commit}^{commit}`], {
    env,
    timeoutMs: 60_000,
    signal: opts.signal,
  });
  return r.code === 0;
}

function checkCommit(commit: string): void {
  if (!COMMIT_RE.test(commit))
    throw new PipelineError("E_GIT", `not a full commit id (40 or 64 lowercase hex digits): "${commit}"`);
}

function checkRefName(ref: string): void {
  // A subset of git check-ref-format, enough to keep ref names from being read as options or patterns.
  if (ref === "HEAD") return;
  if (
    !/^refs\/[^\s~^:?*[\\\0]+$/.test(ref) ||
    ref.includes("..") ||
    ref.includes("//") ||
    ref.endsWith("/") ||
    ref.endsWith(".lock")
  ) {
    throw new PipelineError("E_GIT", `not a valid git ref name: "${ref}"`);
  }
}

function authOptions(opts: GitOpOptions): GitAuthOptions {
  return {
    baseEnv: localEnv(opts),
    strictHostKeyChecking: opts.strictHostKeyChecking,
    knownHostsFile: opts.knownHostsFile,
    tmpDir: opts.tmpDir,
  };
}

function localEnv(opts: GitOpOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), GIT_TERMINAL_PROMPT: "0" };
  for (const k of REPO_ENV) delete env[k];
  return env;
}

interface GitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Killed because the caller's signal was aborted. */
  aborted?: boolean;
  spawnError?: Error;
}

const MAX_OUTPUT = 64 * 1024 * 1024;

/** SIGKILL (or `signal`) for a process group; never throws. */
function killGroup(pgid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** Runs git in a process group of its own, collecting its output; never rejects. */
function execGit(
  git: string,
  args: string[],
  o: { env: NodeJS.ProcessEnv; timeoutMs: number; signal?: AbortSignal },
): Promise<GitResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let spawnError: Error | undefined;
    // The hooks go in before git starts: a signal that arrived between the spawn and their registration would end
    // this process by its default action and leave git's group running (seen under load). Once registered, a signal
    // waits for the event loop, by which time the group is known.
    let pgid: number | undefined;
    const kill = () => pgid !== undefined && killGroup(pgid);
    const done = untilDone(kill, (sig) => pgid !== undefined && killGroup(pgid, sig));
    const child = spawn(git, args, {
      env: o.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      windowsHide: true,
    });
    pgid = child.pid;
    const timer =
      o.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, o.timeoutMs)
        : undefined;
    o.signal?.addEventListener("abort", kill, { once: true });
    if (o.signal?.aborted) kill();
    const collect = (into: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > MAX_OUTPUT) {
        spawnError ??= new Error(`git printed more than ${MAX_OUTPUT} bytes`);
        kill();
        return;
      }
      into.push(d);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", kill);
      done();
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (spawnError) return resolve({ code: null, signal, stdout, stderr, timedOut, spawnError });
      resolve({ code, signal, stdout, stderr, timedOut, aborted: code !== 0 && o.signal?.aborted });
    };
    child.on("error", (e) => {
      spawnError = e;
      finish(null, null);
    });
    child.on("close", finish);
  });
}

/** Runs a git command that needs no remote; failures are E_GIT with git's stderr. */
async function runLocal(args: string[], o: { opts: GitOpOptions; env: NodeJS.ProcessEnv }): Promise<GitResult> {
  const r = await execGit(o.opts.git ?? "git", args, {
    env: o.env,
    timeoutMs: o.opts.timeoutMs ?? FETCH_TIMEOUT_MS,
    signal: o.opts.signal,
  });
  if (r.code !== 0) throw gitFailure(args, r, undefined, o.opts.credential);
  return r;
}

/** Runs a git command against `url`; failures are E_GIT_AUTH when the server wants a credential, else E_GIT. */
async function runRemote(
  args: string[],
  o: { url: string; opts: GitOpOptions; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<GitResult> {
  const r = await execGit(o.opts.git ?? "git", args, {
    env: lowSpeedEnv(o.env),
    timeoutMs: o.timeoutMs,
    signal: o.opts.signal,
  });
  if (r.code !== 0) throw gitFailure(args, r, o.url, o.opts.credential);
  return r;
}

// What git (and servers, through git) print when authentication is needed or failed.
const AUTH_RE = new RegExp(
  [
    "Authentication failed",
    "could not read (?:Username|Password)",
    "terminal prompts disabled",
    "Permission denied \\((?:publickey|password|keyboard-interactive)",
    "HTTP Basic: Access denied",
    "Invalid username or (?:password|token)",
    "The requested URL returned error: 40[13]",
  ].join("|"),
  "i",
);

/** The PipelineError for a failed git command; exported for tests. */
export function gitFailure(
  args: readonly string[],
  r: GitResult,
  url: string | undefined,
  cred: GitCredential | undefined,
): PipelineError {
  const sub = args[args[0] === "-C" ? 2 : 0] ?? "git";
  const where = url ? ` ${redactUrl(url)}` : "";
  const detail = sanitizeGitOutput(r.stderr.trim() || r.stdout.trim(), cred);
  if (r.spawnError)
    return new PipelineError("E_GIT", `could not run git: ${sanitizeGitOutput(r.spawnError.message, cred)}`);
  if (r.timedOut)
    return new PipelineError("E_GIT", `git ${sub}${where} timed out and was killed${detail ? `: ${detail}` : ""}`);
  if (r.aborted) return new PipelineError("E_GIT", `git ${sub}${where} was stopped (the operation was aborted)`);
  if (url && AUTH_RE.test(r.stderr)) {
    const reason = cred
      ? `the server rejected the credential (${describeCredential(cred)})`
      : "the server requires a credential and none was given";
    return new PipelineError(
      "E_GIT_AUTH",
      `git authentication to ${redactUrl(url)} failed: ${reason}${detail ? `\ngit: ${detail}` : ""}`,
    );
  }
  const how = r.code !== null ? `exit code ${r.code}` : `signal ${r.signal}`;
  return new PipelineError("E_GIT", `git ${sub}${where} failed (${how})${detail ? `:\n${detail}` : ""}`);
}

function describeCredential(cred: GitCredential): string {
  if ("privateKey" in cred) return "SSH private key";
  if ("token" in cred) return "token";
  return `password for user "${cred.username}"`;
}
