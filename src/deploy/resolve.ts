/**
 * Pins a deployment once per run, so every replica and step runs the same bytes:
 *  - ContainerAtTag → the digest the tag names now (a manifest request through the credential chain; for an
 *    OCI index or Docker manifest list, the entry for the target platform, linux/amd64 unless told);
 *  - model ids by tag → the digest the tag names now (models are single-manifest artifacts);
 *  - GitRepoBranch → the commit the branch names now (`git ls-remote` with the git credential from
 *    rules_pipeline's credentials file, src/credentials);
 *  - ContainerInLayout (`--image oci:DIR[@sha256:...]`) → the manifest digest of the image in that layout, a
 *    given digest checked against it (E_DIGEST_MISMATCH); no warning, the directory is the caller's own.
 * Each pin is announced with a warning, since tags and branches move. The returned spec has the pinned
 * forms (ContainerAtDigest, GitRepoCommit); digests and commits given as such are used as they are, without
 * a network request.
 *
 * `containerRegistry: NAME` in the spec puts the named registry credential (secrets.ts) in front of the chain
 * for the image's registry.
 */
import type { Digest } from "../oci/digest";
import { formatPlatform } from "../oci/platform";
import { PipelineError, redactUrl } from "../errors";
import { defaultKeychain } from "../registry-auth/default";
import { chainKeychains, type Keychain } from "../registry-auth/keychain";
import { explicitKeychain } from "../registry-auth/static";
import { gitCredential, type PipelineCredentialsOptions } from "../credentials/lookup";
import { type GitOpOptions, lsRemote } from "../git/ops";
import { formatReference, parseReference } from "../oci/reference";
import type { RetryOptions } from "../registry/http";
import { inspect, resolveDigest } from "../registry/pull";
import { formatLayoutReference, pinLayoutImage } from "./layout-image";
import { GitRepoCommit } from "./constructors";
import { resolveRegistrySecret, type SecretLookupOptions } from "./secrets";
import { specFieldLocation } from "./spec";
import type { CodeDeployment, DeploymentSpec, InterpreterDeployment, ResolvedDeployment } from "./types";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ResolveOptions {
  /** Registry credentials (default: the CLI's chain, defaultKeychain). */
  keychain?: Keychain;
  /** Plain HTTP for non-loopback registries. */
  insecure?: boolean;
  /** The platform to pick from an index (default linux/amd64). */
  platform?: Platform;
  /** How git runs (env, tmpDir, timeouts); `credential` replaces the credentials-file lookup. */
  gitOptions?: GitOpOptions;
  /**
   * The environment credentials, named secrets and the default keychain are read from, and git runs in
   * unless gitOptions.env says otherwise (default process.env).
   */
  env?: NodeJS.ProcessEnv;
  /** Home directory for those lookups (default $HOME of `env`, else the OS's). */
  home?: string;
  retry?: RetryOptions;
  scheme?: "http" | "https";
  /**
   * No network requests: a reference that needs one (an image or model by tag, a git branch) fails with
   * E_OFFLINE naming the spec's FILE:LINE and the value. Pinned references never need the network anyway.
   */
  offline?: boolean;
  /** Where a field came from, for messages (default: the spec file's FILE:LINE, see specFieldLocation). */
  locate?: (path: string) => string | undefined;
  /** Each warning line, as it happens (all are also returned in `warnings`). */
  warn(line: string): void;
}

export const OFFLINE_ERROR = "E_OFFLINE";

/** Every reference of `spec` that would need the network to pin, as `FILE:LINE: field: value ...` lines. */
export function networkReferences(
  spec: DeploymentSpec,
  locate: (path: string) => string | undefined = (p) => specFieldLocation(spec, p),
): string[] {
  const at = (path: string) => `${locate(path) ?? "(spec)"}: ${path}`;
  const out: string[] = [];
  const it = spec.interpreter;
  if (it.kind === "ContainerAtTag") {
    const field = locate("image") ? "image" : locate("interpreter.tag") ? "interpreter.tag" : "interpreter";
    out.push(
      `${at(field)}: ${JSON.stringify(`${it.repository}:${it.tag}`)} is a tag; pin it by digest (HOST/REPO@sha256:...)`,
    );
  }
  if (spec.code.kind === "GitRepoBranch")
    out.push(
      `${at(locate("code.branch") ? "code.branch" : "code")}: branch ${JSON.stringify(spec.code.branch)} of ${JSON.stringify(redactUrl(spec.code.repoUrl))} needs git ls-remote; pin it with GitRepoCommit`,
    );
  spec.models.forEach((m, i) => {
    if (!parseReference(m.id, `models[${i}].id`).digest)
      out.push(`${at(`models[${i}].id`)}: ${JSON.stringify(m.id)} is a tag; pin it by digest`);
  });
  return out;
}

const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** The keychain for the spec's registries: `containerRegistry`'s credential first for the image's registry, then the chain. */
export function specKeychain(
  spec: DeploymentSpec,
  opts: Pick<ResolveOptions, "keychain" | "env" | "home" | "warn">,
): Keychain {
  const keychain = opts.keychain ?? defaultKeychain({ env: opts.env, home: opts.home, warn: opts.warn });
  const { interpreter } = spec;
  if (!spec.containerRegistry || (interpreter.kind !== "ContainerAtTag" && interpreter.kind !== "ContainerAtDigest"))
    return keychain;
  const registry = parseReference(interpreter.repository, "image").registry;
  const lookup: SecretLookupOptions = { env: opts.env, home: opts.home ?? opts.env?.HOME };
  const { username, password } = resolveRegistrySecret(spec.containerRegistry, lookup);
  return chainKeychains(
    explicitKeychain(registry, { username, password }, `containerRegistry "${spec.containerRegistry}"`),
    keychain,
  );
}

/** The numeric user of an image config's `User` ("1000", "1000:1000"); undefined for names and root. */
export function numericUser(user: string | undefined): number | undefined {
  const m = /^([0-9]+)(?::[0-9]+)?$/.exec(user ?? "");
  const uid = m ? Number(m[1]) : undefined;
  return uid ? uid : undefined;
}

async function pinImage(
  interpreter: InterpreterDeployment & { kind: "ContainerAtTag" },
  keychain: Keychain,
  opts: ResolveOptions,
): Promise<{ digest: Digest; warning: string; user?: number }> {
  const ref = parseReference(`${interpreter.repository}:${interpreter.tag}`, "image");
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const found = await inspect(ref, {
    keychain,
    insecure: opts.insecure,
    platform,
    retry: opts.retry,
    scheme: opts.scheme,
  });
  const via = found.index ? ` (the ${formatPlatform(platform)} entry of index ${found.index.digest})` : "";
  return {
    digest: found.digest,
    user: numericUser(found.config.config?.User),
    warning: `tags are not deterministic: ${interpreter.repository}:${interpreter.tag} resolved to ${interpreter.repository}@${found.digest}${via}, every replica runs that digest`,
  };
}

async function pinBranch(
  code: CodeDeployment & { kind: "GitRepoBranch" },
  opts: ResolveOptions,
): Promise<{ commit: string; warning: string }> {
  const git: GitOpOptions = { ...opts.gitOptions, env: opts.gitOptions?.env ?? opts.env };
  let credential = git.credential;
  if (!credential) {
    const credOpts: PipelineCredentialsOptions = {
      env: opts.env,
      home: opts.home ?? opts.env?.HOME,
      onWarning: opts.warn,
    };
    credential = (await gitCredential(code.repoUrl, credOpts))?.secret;
  }
  const commit = await lsRemote(code.repoUrl, code.branch, { ...git, credential });
  return {
    commit,
    warning: `branches are not deterministic: ${redactUrl(code.repoUrl)} branch ${code.branch} resolved to commit ${commit}, every replica runs that commit`,
  };
}

/** Model ids given by tag → by digest (one HEAD each), so the runner and Kubernetes pull the same bytes. */
async function pinModels(
  spec: DeploymentSpec,
  keychain: () => Keychain,
  opts: ResolveOptions,
): Promise<{ models: DeploymentSpec["models"]; warnings: string[] }> {
  const warnings: string[] = [];
  const models = await Promise.all(
    spec.models.map(async (m) => {
      const ref = parseReference(m.id, "models[].id");
      if (ref.digest) return m;
      const digest = await resolveDigest(ref, {
        keychain: keychain(),
        insecure: opts.insecure,
        retry: opts.retry,
        scheme: opts.scheme,
      });
      const pinned = formatReference({ ...ref, tag: undefined, digest });
      warnings.push(`tags are not deterministic: model ${m.id} resolved to ${pinned}, every replica gets that digest`);
      return { ...m, id: pinned };
    }),
  );
  return { models, warnings };
}

/** Pins tags to digests and branches to commits; the result's spec has only pinned forms. */
export async function resolveDeployment(spec: DeploymentSpec, opts: ResolveOptions): Promise<ResolvedDeployment> {
  const { interpreter, code } = spec;
  if (opts.offline) {
    const needs = networkReferences(spec, opts.locate);
    if (needs.length)
      throw new PipelineError(OFFLINE_ERROR, `--offline: these references need the network:\n${needs.join("\n")}`);
  }
  const warnings: string[] = [];
  const warn = (line: string) => {
    warnings.push(line);
    opts.warn(line);
  };
  // Credential sources warn as they are read (a credentials file others can read); the pins warn at the end, in order.
  const lookups: ResolveOptions = { ...opts, warn };
  let keychain: Keychain | undefined; // built when a registry is asked (reading secrets and docker config)
  const registryKeychain = () => (keychain ??= specKeychain(spec, lookups));
  // A local layout first: a wrong digest fails before any network request.
  const layoutDigest =
    interpreter.kind === "ContainerInLayout"
      ? pinLayoutImage({ dir: interpreter.layout, digest: interpreter.digest }, { platform: opts.platform })
      : undefined;
  const [image, branch, models] = await Promise.all([
    interpreter.kind === "ContainerAtTag" ? pinImage(interpreter, registryKeychain(), lookups) : undefined,
    code.kind === "GitRepoBranch" ? pinBranch(code, lookups) : undefined,
    pinModels(spec, registryKeychain, lookups),
  ]);
  const pinned: DeploymentSpec = { ...spec, models: models.models };
  const out: ResolvedDeployment = { spec: pinned, warnings };
  if (interpreter.kind === "ContainerAtTag" && image) {
    pinned.interpreter = { kind: "ContainerAtDigest", repository: interpreter.repository, digest: image.digest };
    out.version = interpreter.tag;
    // The config came with the tag's resolution; a pinned image's is not fetched (no request for pinned specs).
    if (image.user !== undefined) out.imageUser = image.user;
    warn(image.warning);
  }
  if (interpreter.kind === "ContainerInLayout" && layoutDigest) {
    pinned.interpreter = { ...interpreter, digest: layoutDigest };
    out.image = formatLayoutReference({ dir: interpreter.layout, digest: layoutDigest });
  }
  if (pinned.interpreter.kind === "ContainerAtDigest")
    out.image = `${pinned.interpreter.repository}@${pinned.interpreter.digest}`;
  if (code.kind === "GitRepoBranch" && branch) {
    pinned.code = GitRepoCommit(code.repoUrl, branch.commit);
    warn(branch.warning);
  }
  if (pinned.code.kind === "GitRepoCommit") out.commit = pinned.code.commit;
  for (const w of models.warnings) warn(w);
  return out;
}
