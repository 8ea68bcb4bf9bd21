/**
 * `npm ci --ignore-scripts --omit=dev` in a scratch directory holding only package.json, the lockfile and the
 * allowed keys of the project's .npmrc (registry settings; install.ts writes it). Install scripts are not run: they
 * execute arbitrary code on the build host and make node_modules depend on it; packages that need them (native
 * addons) belong in a Bazel build. npm runs on the same node as this process when npm is a JavaScript file (the usual install).
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, realpathSync, statSync } from "node:fs";
import { basename, delimiter, join } from "node:path";
import { PipelineError, redactUrl, redactUrlsInText } from "../errors";
import { untilDone } from "../process/signals";

export interface NpmCiOptions {
  env: NodeJS.ProcessEnv;
  /** Milliseconds before npm is killed (default 10 minutes). */
  timeoutMs?: number;
}

const NETWORK_CODES =
  /\b(ENOTFOUND|ECONNREFUSED|ECONNRESET|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT)\b/;

/** The npm command: [node, npm-cli.js] when npm on PATH is a script node can run, else [npm]. */
export function npmCommand(env: NodeJS.ProcessEnv): string[] {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "npm");
    let real: string;
    try {
      if (!statSync(candidate).isFile()) continue;
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    return /\.(c|m)?js$/.test(real) ? [process.execPath, real] : [candidate];
  }
  throw new PipelineError(
    "E_NPM",
    "npm is not on PATH: a --lockfile build runs `npm ci` to install the project's dependencies",
  );
}

/** The last `lines` lines of a command's output. */
export function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/**
 * npm's output with credentials taken out: URLs as `redactUrlsInText` gives them (userinfo, credential-like query
 * parameters), scheme-less `//user:password@host` and .npmrc-style tokens.
 */
export function redactNpmOutput(out: string): string {
  return redactUrlsInText(out)
    .replace(/(\/\/)[^/@\s]+@/g, "$1REDACTED@")
    .replace(/(_authToken|_auth|_password)=\S+/g, "$1=REDACTED");
}

export interface NpmRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr together; its last `keep` characters when bounded. */
  out: string;
}

/** Runs npm (`npmCommand()`'s words) with `args` in `cwd`; killed after `timeoutMs`. */
export function runNpm(
  npm: string[],
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; keep?: number },
): Promise<NpmRun> {
  const [cmd, ...pre] = npm;
  return new Promise<NpmRun>((resolveRun, reject) => {
    // It ends with us: a signal nobody decides on is passed on to it, and at exit it is killed, before (exit hooks
    // unwind last in, first out) the work directory it writes into is removed (src/process/temp.ts holdTemp). The
    // hooks go in before npm starts, as git's do (src/git/ops.ts execGit): a signal between the two would otherwise
    // end this process by its default action with npm still running.
    let started: { kill(signal: NodeJS.Signals): boolean } | undefined;
    const done = untilDone(
      () => started?.kill("SIGKILL"),
      (signal) => started?.kill(signal),
    );
    const child = spawn(cmd, [...pre, ...args], { cwd: o.cwd, env: o.env, stdio: ["ignore", "pipe", "pipe"] });
    started = child;
    let out = "";
    const collect = (c: Buffer) => {
      out += c.toString("utf8");
      if (o.keep !== undefined && out.length > o.keep) out = out.slice(-o.keep);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      done();
      reject(new PipelineError("E_NPM", `cannot run ${cmd}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      done();
      resolveRun({ code, signal, out });
    });
  });
}

/**
 * Runs npm ci in `workDir` (which receives copies of the project's package.json and lockfile) and
 * returns the path of the node_modules it made.
 */
export async function npmCi(
  workDir: string,
  project: { dir: string; packageJsonPath: string; lockfilePath: string },
  opts: NpmCiOptions,
): Promise<string | undefined> {
  copyFileSync(project.packageJsonPath, join(workDir, "package.json"));
  copyFileSync(project.lockfilePath, join(workDir, basename(project.lockfilePath)));
  const env: NodeJS.ProcessEnv = { ...opts.env, npm_config_update_notifier: "false" };
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const args = ["ci", "--ignore-scripts", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"];
  const result = await runNpm(npmCommand(opts.env), args, { cwd: workDir, env, timeoutMs });
  if (result.code === 0) {
    const nm = join(workDir, "node_modules");
    return existsSync(nm) ? nm : undefined; // a project without dependencies
  }
  const out = redactNpmOutput(result.out);
  if (result.signal)
    throw new PipelineError(
      "E_NPM",
      `npm ci was killed (${result.signal}) after ${Math.round(timeoutMs / 1000)} s:\n${tail(out)}`,
    );
  const registry = env.npm_config_registry ?? env.NPM_CONFIG_REGISTRY;
  if (NETWORK_CODES.test(out)) {
    throw new PipelineError(
      "E_NPM_NETWORK",
      `npm ci could not reach the npm registry${registry ? ` (${redactUrl(registry)})` : ""}: a --lockfile build needs it, or a warm npm cache.\n${tail(out)}`,
    );
  }
  throw new PipelineError("E_NPM", `npm ci failed (exit ${result.code}) for ${project.lockfilePath}:\n${tail(out)}`);
}
