/**
 * `runDeployment`: a resolved deployment spec run on this machine.
 *
 *  - interpreter: ContainerAtDigest (resolved.image) and ContainerInLayout (`oci:DIR@sha256:...`, an image not
 *    pushed yet) run under the container runtime (container.ts);
 *    ServerAvailableInterpreter runs `nodePath` directly on the host (host.ts); ContainerAtTag must be resolved
 *    first (resolveDeployment); LockfileProject is built from the code deployment's lockfile (the code is then
 *    in the image, not mounted) and run like an image.
 *  - containerRegistry: the named registry credential goes in front of the keychain for the image's registry
 *    (specKeychain, the same as the resolver's).
 *  - models: syncModel → the host directory, mounted read-only at the model's path.
 *  - repositories: cloned/updated in the dataset cache (repositories.ts), mounted read-only at mountPath/name.
 *  - code: ServerAvailableFolder paths (relative ones from `baseDir`, the spec's directory) must be under the
 *    spec's directory or a folder allowed by hand (host-folders.ts; never the host's `/`); they are mounted
 *    read-only at /opt/pipeline/code/<i>; the first is the working directory and all are on NODE_PATH (before
 *    a NODE_PATH the spec sets). GitRepoCommit code is checked out in the cache and mounted the same way.
 *    A spec `workingDir` wins over the code's.
 *  - ports: the container shares the host's network (network "host", the default), so a port the program
 *    listens on is the host's port; plain runc maps nothing. With replicas > 1 on one port, all but one bind
 *    fails unless the program uses SO_REUSEPORT; a warning says so.
 *  - replicas: that many containers (or host processes), output lines prefixed `[i] `; the result is the first
 *    non-zero exit code (0 when all succeed).
 * Every container path mounted at (models, repositories, --mount) gets the spec parser's check again
 * (deploy/path-checks.ts) before anything is synced or pulled: deployments built in code skip the parser.
 * Host runs (no container) cannot mount: they get PIPELINE_MODELS (JSON: container path → host directory),
 * PIPELINE_REPOSITORIES (the dataset directory holding one checkout per name) and run in the code directory.
 */
import { rmSync } from "node:fs";
import { isAbsolute, join, posix, resolve } from "node:path";
import type { Keychain } from "../registry-auth/keychain";
import { deploymentEnv, envSecretName } from "../deploy/env";
import { formatLayoutReference } from "../deploy/layout-image";
import { mountPathProblem } from "../deploy/path-checks";
import { allowedHostRoots, checkedHostFolder } from "./host-folders";
import { specKeychain } from "../deploy/resolve";
import { resolveNamedSecret } from "../deploy/secrets";
import type { ResolvedDeployment } from "../deploy/types";
import { PipelineError, quoteValue } from "../errors";
import type { LayerLimits } from "../layer/limits";
import { syncModel } from "../weights";
import type { ProgressSink } from "../registry/progress";
import { type BindMount, type ContainerRunOptions, runPrepared } from "./container";
import { runOnHost } from "./host";
import { prepareImage } from "./image-cache";
import { cacheRoot, datasetsDir, modelsDir } from "./paths";
import { localRunSettings } from "./cluster-fields";
import { checkoutCode, syncRepositories } from "./repositories";

export const CODE_MOUNT_ROOT = "/opt/pipeline/code";

export interface RunDeploymentOptions
  extends Omit<ContainerRunOptions, "command" | "args" | "env" | "workingDir" | "mounts" | "replicas" | "name"> {
  keychain?: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Limits on unpacking the image's layers and the models' (src/layer/limits.ts). */
  limits?: LayerLimits;
  /** Environment for named secrets, credentials and the default keychain (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative code paths are taken from (default: the current directory). */
  baseDir?: string;
  /** Replace the spec's args (the CLI's `-- ARGS`). */
  args?: string[];
  /** Added to the spec's env (the CLI's --env). */
  extraEnv?: Record<string, string>;
  /** Added to the spec's mounts (the CLI's --mount). */
  extraMounts?: BindMount[];
  /**
   * Host folders a ServerAvailableFolder may name besides `baseDir` and what $PIPELINE_ALLOW_HOST_PATHS lists
   * (the CLI's --allow-host-path; host-folders.ts).
   */
  allowHostPaths?: string[];
}

export async function runDeployment(
  resolved: ResolvedDeployment,
  opts: RunDeploymentOptions = {},
): Promise<{ exitCode: number }> {
  const spec = resolved.spec;
  const env = opts.env ?? process.env;
  const cacheDir = cacheRoot(env, opts.cacheDir);
  const log = opts.log ?? (() => undefined);
  const warn = opts.warn ?? (() => undefined);
  const interp = spec.interpreter;
  let image: string | undefined;
  if (interp.kind === "ContainerAtTag") {
    if (!resolved.image)
      throw new PipelineError(
        "E_RUN_UNRESOLVED",
        `image ${interp.repository}:${interp.tag} is not pinned: resolve the deployment first (resolveDeployment)`,
      );
    image = resolved.image;
  } else if (interp.kind === "ContainerAtDigest") {
    image = resolved.image ?? `${interp.repository}@${interp.digest}`;
  } else if (interp.kind === "ContainerInLayout") {
    image = resolved.image ?? formatLayoutReference({ dir: interp.layout, digest: interp.digest });
  }
  checkMountPaths(spec, opts.extraMounts ?? []);

  const keychain = specKeychain(spec, { keychain: opts.keychain, env, warn });

  const mounts: BindMount[] = [];
  const models: Record<string, string> = {};
  for (const m of spec.models) {
    const { dir } = await syncModel(m.id, {
      keychain,
      insecure: opts.insecure,
      progress: opts.progress,
      cacheDir: modelsDir(cacheDir),
      warn,
      limits: opts.limits,
    });
    mounts.push({ source: dir, destination: m.path, readonly: true });
    models[m.path] = dir;
  }
  if (spec.repositories) {
    const checkouts = await syncRepositories(spec.repositories, { cacheDir, env, log, warn });
    for (const c of checkouts)
      mounts.push({
        source: c.dir,
        destination: `${spec.repositories.mountPath.replace(/\/+$/, "")}/${c.name}`,
        readonly: true,
      });
  }
  let codeHostDirs: string[] = [];
  const code = spec.code;
  if (code.kind === "ServerAvailableFolder") {
    // The one host-path rule (deploy/path-checks.ts): under the spec's directory or a root allowed by hand.
    const base = opts.baseDir ?? process.cwd();
    const allowed = allowedHostRoots(base, opts.allowHostPaths ?? [], env);
    codeHostDirs = code.codePaths.map((p, i) =>
      checkedHostFolder(isAbsolute(p) ? p : resolve(base, p), `code.codePaths[${i}]`, allowed),
    );
  } else if (code.kind === "GitRepoCommit" || code.kind === "GitRepoBranch") {
    const commit = code.kind === "GitRepoCommit" ? code.commit : resolved.commit;
    if (!commit)
      throw new PipelineError(
        "E_RUN_UNRESOLVED",
        `code branch ${code.kind === "GitRepoBranch" ? code.branch : ""} is not pinned: resolve the deployment first (resolveDeployment)`,
      );
    codeHostDirs = [await checkoutCode(code.repoUrl, commit, { cacheDir, env, log, warn })];
  }
  if (interp.kind === "LockfileProject") {
    // The code deployment's package.json + lockfile define the environment: build the image (node_modules layer
    // cached by the lockfile's hash, code layer from the checkout), then run it; the code is in the image.
    if (!codeHostDirs.length)
      throw new PipelineError(
        "E_RUN_UNSUPPORTED",
        `interpreter LockfileProject (${interp.lockfile}) needs a code deployment holding it (code: GitRepoBranch, GitRepoCommit or ServerAvailableFolder)`,
      );
    if (posix.basename(interp.lockfile) !== "package-lock.json")
      throw new PipelineError(
        "E_RUN_UNSUPPORTED",
        `interpreter LockfileProject: only npm's package-lock.json is supported, got ${JSON.stringify(interp.lockfile)}`,
      );
    image = await buildFromLockfile(join(codeHostDirs[0], posix.dirname(interp.lockfile)), {
      cacheDir,
      env,
      log,
      keychain,
      insecure: opts.insecure,
    });
    codeHostDirs = [];
  }
  const specEnv: Record<string, string> = {};
  for (const e of deploymentEnv(spec)) {
    const secret = envSecretName(e.value);
    specEnv[e.name] = secret === undefined ? e.value : resolveNamedSecret(secret, { env });
  }
  Object.assign(specEnv, opts.extraEnv ?? {});
  const args = opts.args ?? spec.args;
  const replicas = spec.resources.replicas;
  const network = opts.network ?? "host";
  if (spec.ports.length) {
    if (network === "host") {
      log(
        `ports ${spec.ports.join(", ")}: the containers use the host's network, so these are the host's ports (no port mapping)`,
      );
      if (replicas > 1)
        warn(
          `${replicas} replicas share the host's network: only one can listen on port ${spec.ports[0]} unless the program uses SO_REUSEPORT`,
        );
    } else warn(`ports ${spec.ports.join(", ")}: with --network none nothing outside the container can reach them`);
  }

  const local = localRunSettings(spec, interp.kind !== "ServerAvailableInterpreter");
  if (local.ignored.length) warn(`the local runner ignores ${local.ignored.join(", ")} (Kubernetes only)`);
  if (interp.kind === "ServerAvailableInterpreter") {
    return runOnHost({
      nodePath: interp.nodePath,
      command: spec.command,
      args: args ?? [],
      env: {
        ...specEnv,
        ...(codeHostDirs.length ? { NODE_PATH: [...codeHostDirs, specEnv.NODE_PATH].filter(Boolean).join(":") } : {}),
        ...(spec.models.length ? { PIPELINE_MODELS: JSON.stringify(models) } : {}),
        ...(spec.repositories
          ? { PIPELINE_REPOSITORIES: `${datasetsDir(cacheDir)}/${spec.repositories.dataset}` }
          : {}),
      },
      cwd: spec.workingDir ?? codeHostDirs[0] ?? opts.baseDir ?? process.cwd(),
      replicas,
      stdout: opts.stdout,
      stderr: opts.stderr,
      signal: opts.signal,
      kill: opts.kill,
      stopTimeoutMs: opts.stopTimeoutMs,
    });
  }

  const codeMounts = codeHostDirs.map((source, i) => ({
    source,
    destination: `${CODE_MOUNT_ROOT}/${i}`,
    readonly: true,
  }));
  if (codeMounts.length)
    specEnv.NODE_PATH = [...codeMounts.map((m) => m.destination), specEnv.NODE_PATH].filter(Boolean).join(":");
  try {
    const prepared = await prepareImage(image!, {
      cacheDir,
      keychain,
      insecure: opts.insecure,
      progress: opts.progress,
      log,
      warn,
      limits: opts.limits,
    });
    return await runPrepared(prepared, {
      ...opts,
      cacheDir,
      network,
      name: spec.name,
      command: spec.command,
      args,
      env: specEnv,
      workingDir: spec.workingDir ?? codeMounts[0]?.destination,
      mounts: [...mounts, ...codeMounts, ...(opts.extraMounts ?? [])],
      replicas,
      cgroup: local.cgroup,
      user: local.user,
    });
  } finally {
    // A lockfile build's layout is only needed while the image runs (its rootfs is cached by digest).
    if (interp.kind === "LockfileProject" && image?.startsWith("oci:"))
      rmSync(image.slice(4, image.lastIndexOf("@")), { recursive: true, force: true });
  }
}

/** E_BAD_MOUNT for the first container path the spec parser would have refused, named by its field. */
function checkMountPaths(spec: ResolvedDeployment["spec"], extra: readonly BindMount[]): void {
  const paths: [string, string][] = spec.models.map((m, i) => [`models[${i}].path`, m.path]);
  if (spec.repositories) paths.push(["repositories.mountPath", spec.repositories.mountPath]);
  extra.forEach((m, i) => {
    paths.push([`mount ${i + 1} (${m.destination})`, m.destination]);
  });
  for (const [field, path] of paths) {
    const problem = mountPathProblem(path);
    if (problem) throw new PipelineError("E_BAD_MOUNT", `${field}: ${problem} (got ${quoteValue(path)})`);
  }
}

/** `pipeline build --lockfile` into the run cache; returns `oci:LAYOUT` (the runner caches it by digest). */
async function buildFromLockfile(
  projectDir: string,
  o: { cacheDir: string; env: NodeJS.ProcessEnv; log: (line: string) => void; keychain: Keychain; insecure?: boolean },
): Promise<string> {
  const { buildLockfileImage } = await import("../lockfile/build.js");
  const output = join(o.cacheDir, "lockfile-builds", `${process.pid}-${Date.now()}`);
  const result = await buildLockfileImage({
    projectDir,
    output,
    cacheDir: join(o.cacheDir, "lockfile"),
    env: o.env,
    log: o.log,
    keychainFor: async () => o.keychain,
    insecure: o.insecure,
  });
  o.log(
    `project ${projectDir}: built from its lockfile as ${result.digest} (node_modules ${result.nodeModules.cached ? "cached" : "installed"})`,
  );
  return `oci:${output}@${result.digest}`;
}
