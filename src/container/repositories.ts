/**
 * Git checkouts the runner mounts into containers:
 *  - `repositories:` of a spec → <cache>/datasets/<dataset>/<name>, kept between runs (the `dataset` names the
 *    cache): the first run clones (cloneAt), later runs fetch only what is missing and check out (fetchCheckout).
 *    `ref` is a full commit id, or a branch / `refs/...` / HEAD resolved with ls-remote (default HEAD).
 *    Credentials: `username` + `password: SECRET:name` (the named secret, secrets.ts), or a password alone,
 *    sent as a token. They reach git only through withGitAuth's one-shot helper (src/git/auth.ts): never in the
 *    URL, argv, environment, the clone's config, or any log line.
 *  - GitRepoBranch/GitRepoCommit code deployments → <cache>/code/<hash of the URL>, at the pinned commit, with
 *    the git credential from rules_pipeline's credentials file (src/credentials) when one matches.
 * Two runs updating the same checkout at the same moment are not coordinated; run them one after the other.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { gitCredential } from "../credentials/lookup";
import { resolveNamedSecret } from "../deploy/secrets";
import type { GitRepositorySpec, RepositoriesSpec } from "../deploy/types";
import { PipelineError, redactUrl } from "../errors";
import type { GitCredential } from "../git/auth";
import { cloneAt, fetchCheckout, lsRemote } from "../git/ops";
import { codeDir, datasetsDir } from "./paths";
import { COMMIT_RE } from "../oci/grammar";

const NAME_RE = /^[A-Za-z0-9._-]+$/;

export interface CheckoutOptions {
  cacheDir: string;
  /** Where named secrets and the credentials file are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  warn?: (line: string) => void;
}

export interface Checkout {
  name: string;
  dir: string;
  commit: string;
}

function credentialOf(r: GitRepositorySpec, env: NodeJS.ProcessEnv | undefined): GitCredential | undefined {
  if (!r.password) return undefined;
  const value = resolveNamedSecret(r.password.secret, { env });
  if (!r.username) return { token: value };
  return { username: r.username, password: value };
}

/** Brings `dir` to `commit` of `url`: a clone when it is not a checkout yet, else fetch + checkout. */
async function checkoutAt(
  url: string,
  commit: string,
  dir: string,
  credential: GitCredential | undefined,
  callerEnv: NodeJS.ProcessEnv | undefined,
): Promise<void> {
  const env = withoutSecrets(callerEnv);
  if (existsSync(join(dir, ".git"))) await fetchCheckout(dir, commit, { url, credential, env });
  else await cloneAt(url, commit, dir, { credential, env });
}

/** The environment git runs in: the caller's, without the named secrets (PIPELINE_SECRET_*) it may hold. */
export function withoutSecrets(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...(env ?? process.env) };
  for (const k of Object.keys(out)) if (k.startsWith("PIPELINE_SECRET_")) delete out[k];
  return out;
}

export async function syncRepositories(spec: RepositoriesSpec, opts: CheckoutOptions): Promise<Checkout[]> {
  if (!NAME_RE.test(spec.dataset) || spec.dataset === "." || spec.dataset === "..") {
    throw new PipelineError(
      "E_SPEC",
      `repositories.dataset: expected [A-Za-z0-9._-]+, got ${JSON.stringify(spec.dataset)}`,
    );
  }
  const base = join(datasetsDir(opts.cacheDir), spec.dataset);
  await mkdir(base, { recursive: true, mode: 0o700 });
  const out: Checkout[] = [];
  for (const [i, r] of spec.repositories.entries()) {
    if (!NAME_RE.test(r.name) || r.name === "." || r.name === "..") {
      throw new PipelineError(
        "E_SPEC",
        `repositories.repositories[${i}].name: expected [A-Za-z0-9._-]+, got ${JSON.stringify(r.name)}`,
      );
    }
    const credential = credentialOf(r, opts.env);
    const ref = r.ref ?? "HEAD";
    const commit = COMMIT_RE.test(ref)
      ? ref
      : await lsRemote(r.url, ref, { credential, env: withoutSecrets(opts.env) });
    const dir = join(base, r.name);
    opts.log?.(`repository ${r.name}: ${redactUrl(r.url)} at ${commit}`);
    await checkoutAt(r.url, commit, dir, credential, opts.env);
    out.push({ name: r.name, dir, commit });
  }
  return out;
}

/** The checkout of a code deployment's repository at `commit`. */
export async function checkoutCode(url: string, commit: string, opts: CheckoutOptions): Promise<string> {
  const dir = join(codeDir(opts.cacheDir), createHash("sha256").update(url).digest("hex").slice(0, 16));
  await mkdir(codeDir(opts.cacheDir), { recursive: true, mode: 0o700 });
  const found = await gitCredential(url, { env: opts.env, home: opts.env?.HOME, onWarning: opts.warn });
  opts.log?.(`code: ${redactUrl(url)} at ${commit}`);
  await checkoutAt(url, commit, dir, found?.secret, opts.env);
  return dir;
}
