/**
 * The `podman run` / `docker run` command line for one container: the same process, user, working directory,
 * env, mounts, network, hostname and limits the runc path would give it (runc-config.ts), so the program sees
 * the same thing under every runtime.
 *
 * Environment values never go on the command line (a process list would show them).
 *  - podman, the caller's variables (`privateNames`): as podman secrets (`--secret NAME,type=env,target=VAR`,
 *    engine-secrets.ts says why: podman's container database would keep the values after the container).
 *  - Otherwise each variable is passed as `-e NAME` and its value in the engine's own environment, which podman
 *    and docker copy from. Names the engine itself reads (PATH, HOME, TMPDIR, XDG_*, LD_*, DOCKER_*,
 *    CONTAINERS_*, proxies, ...) cannot be given that way without changing how the engine runs: those go to an
 *    env file (`--env-file`, mode 0600 in the container's run directory, overwritten and removed when it ends,
 *    like runc's config.json). An env file holds one line per variable, so such a variable with a newline in
 *    its value is refused.
 *
 * The root filesystem is always the tree the runner unpacked and judged (src/layer/unpack.ts: no devices, no
 * setuid/setgid bits, no owners from the tar), never the image's layers as the engine would extract them:
 *  - podman: `--rootfs DIR` (a writable view of the cached rootfs made by rootfs.ts, as for runc). podman then
 *    applies nothing of an image config (no Env, User, WorkingDir, Entrypoint): all of them are given here.
 *  - docker: an image imported from a tar of that tree (engine-image.ts), run by its id.
 *
 * Engine differences: podman gets `--unsetenv-all` (the env is exactly ours, as under runc; podman still adds
 * HOSTNAME), `--http-proxy=false` and `--log-driver none` (the runner streams the output through the attach
 * socket; podman keeps no copy in a log file or the journal that could outlive the container); its entrypoint is given as a JSON array (a plain string starting with `[`
 * would be parsed as one). A HOME tmpfs is owned by the user with podman (`U`); docker's tmpfs has no such
 * option and gets mode 1777.
 */
import { PipelineError } from "../errors";
import type { EngineName } from "./engine-cli";
import { type EnvSecret, envSecretName } from "./engine-secrets";
import type { ProcessSpec } from "./process-spec";
import type { BindMount, CgroupLimits } from "./runc-config";

export interface EngineContainerSpec {
  engine: EngineName;
  /** Container name. */
  id: string;
  hostname: string;
  /** What the container's root is: a root filesystem directory (podman) or an image in the engine's store. */
  root: { rootfs: string } | { image: string };
  process: ProcessSpec;
  mounts: BindMount[];
  network: "host" | "none";
  /** A tmpfs at the process's HOME (the image has no such directory). */
  homeTmpfs: boolean;
  /** `--ulimit` values (`soft:hard`) by name (nofile, nproc). */
  ulimits: Record<string, string>;
  /** Path of the env file, when `splitEnv` put anything in it. */
  envFile?: string;
  /** `--memory` / `--cpus`. */
  cgroup?: CgroupLimits;
}

const ENGINE_READS =
  /^(PATH|HOME|TMPDIR|TMP|TEMP|USER|LOGNAME|SHELL|TZ|NOTIFY_SOCKET|REGISTRY_AUTH_FILE|(XDG|LD|DOCKER|CONTAINERS?|PODMAN|BUILDAH|BUILDKIT|STORAGE|DBUS|LISTEN|SSH|SUDO|OTEL|GO)_.*|GO[A-Z]+|_.*|.*_PROXY)$/i;

export interface SplitEnv {
  /** Passed by name, the values in the engine's environment. */
  byName: Record<string, string>;
  /** Lines of the env file (`NAME=value`). */
  fileLines: string[];
  /** podman secrets to create before the container and pass with `--secret` (engine-secrets.ts). */
  secrets?: EnvSecret[];
}

export interface SecretEnvOptions {
  /** The container's id: secrets are named after it. */
  containerId: string;
  /** Names whose values are the caller's (secret); the others (the image's own) are passed plainly. */
  privateNames: ReadonlySet<string>;
}

/** How each variable reaches the engine; with `secrets` (podman), the caller's non-empty values become secrets. */
export function splitEnv(env: readonly string[], secrets?: SecretEnvOptions): SplitEnv {
  const byName: Record<string, string> = {};
  const fileLines: string[] = [];
  const made: EnvSecret[] = [];
  for (const e of env) {
    const eq = e.indexOf("=");
    const name = eq < 0 ? e : e.slice(0, eq);
    const value = eq < 0 ? "" : e.slice(eq + 1);
    if (secrets && value !== "" && secrets.privateNames.has(name)) {
      made.push({ name: envSecretName(secrets.containerId, made.length), target: name, value });
    } else if (ENGINE_READS.test(name)) {
      if (/[\r\n]/.test(value)) {
        throw new PipelineError(
          "E_BAD_ENV",
          `env ${name}: a value with a line break cannot be passed through podman or docker under this name (it is one the engine reads itself)`,
        );
      }
      fileLines.push(`${name}=${value}`);
    } else byName[name] = value;
  }
  return secrets ? { byName, fileLines, secrets: made } : { byName, fileLines };
}

function checkMountPath(p: string, m: BindMount): void {
  if (/[,\n\r]/.test(p))
    throw new PipelineError(
      "E_BAD_MOUNT",
      `mount ${m.source}:${m.destination}: podman and docker cannot take a path with a comma or line break (${JSON.stringify(p)})`,
    );
}

export function engineRunArgs(c: EngineContainerSpec, env: SplitEnv): string[] {
  const p = c.process;
  // docker: no --rm, the runner removes the container after `docker wait` (engine.ts says why).
  const args = [
    "run",
    ...(c.engine === "podman" ? ["--rm"] : []),
    "--name",
    c.id,
    "--hostname",
    c.hostname,
    "--network",
    c.network,
    "--user",
    `${p.user.uid}:${p.user.gid}`,
    "--workdir",
    p.cwd,
  ];
  if (c.engine === "podman") args.push("--unsetenv-all", "--http-proxy=false", "--log-driver", "none");
  args.push("--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777");
  if (c.homeTmpfs && p.home !== "/" && p.home !== "/tmp") {
    args.push(
      "--tmpfs",
      c.engine === "podman" ? `${p.home}:rw,nosuid,nodev,mode=700,U` : `${p.home}:rw,nosuid,nodev,mode=1777`,
    );
  }
  for (const [name, value] of Object.entries(c.ulimits)) args.push("--ulimit", `${name}=${value}`);
  if (c.cgroup?.memoryBytes) args.push("--memory", `${c.cgroup.memoryBytes}b`);
  if (c.cgroup?.cpus) args.push("--cpus", String(c.cgroup.cpus));
  if (c.envFile) args.push("--env-file", c.envFile);
  for (const name of Object.keys(env.byName)) args.push("--env", name);
  for (const sec of env.secrets ?? []) args.push("--secret", `${sec.name},type=env,target=${sec.target}`);
  for (const m of c.mounts) {
    checkMountPath(m.source, m);
    checkMountPath(m.destination, m);
    args.push("--mount", `type=bind,source=${m.source},destination=${m.destination}${m.readonly ? ",readonly" : ""}`);
  }
  args.push("--entrypoint", c.engine === "podman" ? JSON.stringify([p.args[0]]) : p.args[0]);
  if ("rootfs" in c.root) {
    if (c.engine !== "podman")
      throw new PipelineError(
        "E_RUNTIME",
        `${c.engine} cannot run a root filesystem directory (${c.root.rootfs}); it needs an image`,
      );
    // podman reads a trailing ":O" as its own overlay option; our run directories never end so.
    if (/:[^/]*$/.test(c.root.rootfs))
      throw new PipelineError(
        "E_ROOTFS",
        `podman --rootfs: the path ${JSON.stringify(c.root.rootfs)} has a ':' in its last component`,
      );
    args.push("--rootfs", c.root.rootfs, ...p.args.slice(1));
  } else args.push(c.root.image, ...p.args.slice(1));
  return args;
}
