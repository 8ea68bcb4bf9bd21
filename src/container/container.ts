/**
 * `runContainer`: one image, one or more containers, the exit code back.
 *
 *   image       HOST/REPO@sha256:... (a tag is pinned first, with a warning), oci:DIR or oci:DIR@sha256:...
 *   command     replaces the image's Entrypoint (drops its Cmd); args replace the Cmd (process-spec.ts)
 *   env         added to the image's Env (its values are treated as secrets: engine.ts); workingDir replaces
 *               its WorkingDir
 *   mounts      bind mounts {source (host), destination (container), readonly}
 *   network     "host" (default: the host's interfaces, so the program's ports are the host's; no port mapping
 *               exists under plain runc) or "none" (loopback only)
 *   runtime     "auto" (default) | "runc" | "podman" | "docker" (engine-choice.ts); podman/docker: engine.ts
 *   replicas    how many containers of this image run at once (default 1); with more than one, every output
 *               line is prefixed `[i] ` and the result is the first non-zero exit code, in the order the
 *               containers end (0 when all succeed)
 *   signal      abort = stop: SIGTERM, then SIGKILL after stopTimeoutMs; kill = SIGKILL at once
 *
 * Containers are named `rp-<name>-<pid>-<start>-<8 hex>[-<replica>]` (unique, and stale ones can be told apart by
 * their owner's pid and start time: cleanup.ts).
 */
import { lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Keychain } from "../registry-auth/keychain";
import { OptionError, PipelineError } from "../errors";
import { sweepStaleAuthDirs } from "../git/auth-dirs";
import type { ProgressSink } from "../registry/progress";
import { reapStaleEngine, runWithEngine } from "./engine";
import { importIntoDocker } from "./engine-image";
import type { LayerLimits } from "../layer/limits";
import { type PreparedImage, prepareImage } from "./image-cache";
import { prefixedLines } from "../lines";
import { cacheRoot, runsDir } from "./paths";
import { processSpec } from "./process-spec";
import { type BindMount, type CgroupLimits, checkMount } from "./runc-config";
import { containerName, reapStaleRunDirs } from "./cleanup";
import { reapStale, runWithRunc } from "./runc";
import type { RootfsMode } from "./rootfs";
import { chooseRuntime, type RuntimeChoice } from "./engine-choice";

export type { BindMount } from "./runc-config";

export interface ContainerRunOptions {
  args?: string[];
  command?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  mounts?: BindMount[];
  network?: "host" | "none";
  runtime?: RuntimeChoice;
  /** Part of the container ids and the hostname ([a-z0-9-], default "run"). */
  name?: string;
  replicas?: number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Abort to stop the containers (SIGTERM, SIGKILL after stopTimeoutMs). */
  signal?: AbortSignal;
  /** Abort to kill the containers at once. */
  kill?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL (default 5000). */
  stopTimeoutMs?: number;
  /** Cache root (default: paths.ts cacheRoot()). */
  cacheDir?: string;
  rootfs?: RootfsMode;
  /** runc's state directory (default runc's own, /run/runc for root). */
  runcRoot?: string;
  /** Status lines of the runner itself (pulling, unpacking); default: none. */
  log?: (line: string) => void;
  warn?: (line: string) => void;
  /** Memory and CPU limits of each container (runc as root, podman, docker; rootless runc cannot). */
  cgroup?: CgroupLimits;
  /** Run as this user instead of the image's. */
  user?: { uid: number; gid: number };
}

export interface RunContainerOptions extends ContainerRunOptions {
  image: string;
  keychain?: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Limits on unpacking the image's layers (src/layer/limits.ts). */
  limits?: LayerLimits;
}

export async function runContainer(opts: RunContainerOptions): Promise<{ exitCode: number }> {
  const cacheDir = cacheRoot(process.env, opts.cacheDir);
  const prepared = await prepareImage(opts.image, {
    cacheDir,
    keychain: opts.keychain,
    insecure: opts.insecure,
    progress: opts.progress,
    log: opts.log,
    warn: opts.warn,
    limits: opts.limits,
  });
  return runPrepared(prepared, { ...opts, cacheDir });
}

function sanitizeName(name: string | undefined): string {
  const s = (name ?? "run")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return s || "run";
}

/** Whether every component of `path` in the rootfs is a real directory (a symlink on the way counts as "yes"). */
function dirInRootfs(rootfs: string, path: string): boolean {
  let cur = rootfs;
  for (const p of path.split("/").filter(Boolean)) {
    cur = join(cur, p);
    try {
      const st = lstatSync(cur);
      if (st.isSymbolicLink()) return true;
      if (!st.isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Runs `replicas` containers of an image already in the cache. */
export async function runPrepared(image: PreparedImage, opts: ContainerRunOptions): Promise<{ exitCode: number }> {
  const cacheDir = cacheRoot(process.env, opts.cacheDir);
  const replicas = opts.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1)
    throw new PipelineError("E_BAD_INPUT", `replicas must be a positive integer, got ${JSON.stringify(replicas)}`);
  const network = opts.network ?? "host";
  if (network !== "host" && network !== "none")
    throw new OptionError("network", `expected host or none, got ${JSON.stringify(network)}`);
  const mounts = opts.mounts ?? [];
  mounts.forEach((m, i) => {
    checkMount(m, `mount ${i + 1} (${m.source}:${m.destination})`);
  });
  const proc = processSpec(image.config, image.rootfs, {
    command: opts.command,
    args: opts.args,
    env: opts.env,
    workingDir: opts.workingDir,
  });
  if (opts.user) proc.user = { ...opts.user };
  // The image's own variables and the defaults are public; every value the caller gave is treated as a secret.
  const publicEnv = new Set(proc.env.map((e) => e.split("=", 1)[0]).filter((n) => !Object.hasOwn(opts.env ?? {}, n)));
  const runtime = await chooseRuntime(opts.runtime ?? "auto");
  if (runtime === "runc" && opts.cgroup && (process.getuid?.() ?? 0) !== 0)
    opts.warn?.("resources: rootless runc cannot set cgroup limits; the memory/cpu limits are ignored");
  const runs = runsDir(cacheDir);
  if (runtime === "runc") await reapStale(runs, { runcRoot: opts.runcRoot });
  // The containers first: a killed runner's container may still run on its overlay root in runs/.
  else {
    await reapStaleEngine(runtime, cacheDir);
    await reapStaleRunDirs(runs);
  }
  // A killed runner's git credential dirs and the git it left running (src/git/auth-dirs.ts).
  sweepStaleAuthDirs(tmpdir(), { once: true });
  // Every runtime runs the rootfs the unpacker judged: runc and podman the directory, docker an image imported
  // from it once, for all replicas (engine-image.ts).
  const dockerImage = runtime === "docker" ? await importIntoDocker(image, opts.log) : undefined;
  const name = sanitizeName(opts.name);
  const base = containerName(name);
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  let first = 0;
  const one = async (i: number): Promise<void> => {
    const id = replicas > 1 ? `${base}-${i}` : base;
    const out = replicas > 1 ? prefixedLines(`[${i}] `, stdout) : undefined;
    const err = replicas > 1 ? prefixedLines(`[${i}] `, stderr) : undefined;
    try {
      const common = {
        id,
        process: proc,
        mounts,
        network,
        runsDir: runs,
        hostname: replicas > 1 ? `${name}-${i}` : name,
        homeTmpfs: !dirInRootfs(image.rootfs, proc.home),
        stdout: out ?? stdout,
        stderr: err ?? stderr,
        signal: opts.signal,
        kill: opts.kill,
        stopTimeoutMs: opts.stopTimeoutMs,
        cgroup: opts.cgroup,
      };
      const r =
        runtime === "runc"
          ? await runWithRunc({
              ...common,
              lowerRootfs: image.rootfs,
              rootfsMode: opts.rootfs,
              runcRoot: opts.runcRoot,
            })
          : await runWithEngine({
              ...common,
              engine: runtime,
              root: dockerImage ? { image: dockerImage } : { lowerRootfs: image.rootfs, mode: opts.rootfs },
              cacheDir,
              publicEnv,
            });
      if (r.exitCode !== 0 && first === 0) first = r.exitCode;
    } finally {
      await Promise.all([out, err].map((s) => (s ? new Promise<void>((res) => s.end(res)) : undefined)));
    }
  };
  const results = await Promise.allSettled(Array.from({ length: replicas }, (_, i) => one(i)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return { exitCode: first };
}
