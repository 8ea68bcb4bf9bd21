/**
 * One container under podman or docker (for machines without a usable runc, or by choice: `--runtime`).
 * What runs is the root filesystem the runner unpacked and judged (src/layer/unpack.ts), never the image's layers
 * as the engine would extract them: podman gets `--rootfs <run dir>/rootfs`, a writable view of the cached rootfs
 * made by rootfs.ts (an overlay, or a copy: the cache is never written), unmounted and removed with the run
 * directory; docker gets an image imported from that tree (engine-image.ts). The command line is engine-args.ts'.
 *
 *  - `run [--rm] --name ID` in the foreground, in its own process group (a terminal's Ctrl-C reaches only the
 *    runner), stdin /dev/null, stdout and stderr piped through as they come, the engine's exit status returned
 *    (the container's; 137 when killed; podman/docker use 125-127 for their own failures). docker: no --rm,
 *    the exit code comes from `docker wait` (dockerExitCode says why), the container is removed after.
 *  - `--ulimit nofile/nproc` = this process's own limits (what a runc container inherits; nproc at most
 *    pid_max): podman's defaults (nofile 1048576) cannot be set where raising limits is not allowed.
 *  - Stopping (the abort signal): `stop -t SECONDS` (SIGTERM, SIGKILL after the grace period); the kill signal:
 *    `kill`. A stop that comes before the engine has created the container is retried until it takes.
 *  - The caller's env values: podman secrets (engine-secrets.ts), created before the container, removed after it.
 *  - Cleanup on every path: `rm --force` of the container (normally already gone with --rm), its secrets
 *    removed, the run directory (the env file, overwritten first) removed; a synchronous copy runs at process
 *    exit (cleanup.ts). `reapStaleEngine` removes containers named `rp-...-<pid>-<start>-<hex>` whose runner is gone
 *    (docker: only on a local daemon), and then their secrets.
 *
 * What is guaranteed about values (no secret outlives the container):
 *  - podman: nothing in the runner's store (`<cache>/podman`, its runroot and tmpdir) nor in the run directory
 *    holds a value of the caller's once the container is removed: not the container database, not a log
 *    (`--log-driver none`), not the env file. While it runs, podman's secret store, the container's OCI config
 *    and runc's state hold them (files of mode 0600 under 0700 directories of the cache and runroot).
 *  - docker (a daemon that is not ours): values are never on a command line and the container is always
 *    removed, with the daemon's copy of its config; what the daemon keeps beyond that (its own database, logs
 *    of the container's output under its log driver) is the daemon's, outside what the runner can scrub.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { onExitCleanup, ownerGone, scrubRunDirSync } from "./cleanup";
import { exitStatus, onRunAbort } from "../process/signals";
import { engineExec, type EngineName, engineGlobalArgs } from "./engine-cli";
import { engineRunArgs, splitEnv } from "./engine-args";
import { createEnvSecrets, reapStaleEnvSecrets, removeEnvSecrets, removeEnvSecretsSync } from "./engine-secrets";
import type { ProcessSpec } from "./process-spec";
import type { BindMount, CgroupLimits } from "./runc-config";
import { writeMountsRecord } from "./mounts-record";
import { type RootfsMode, writableRoot } from "./rootfs";

export interface EngineRunOptions {
  engine: EngineName;
  id: string;
  hostname: string;
  /** podman: the cached rootfs (read-only; the container gets an overlay or a copy, rootfs.ts). docker: the image id (importIntoDocker). */
  root: { lowerRootfs: string; mode?: RootfsMode } | { image: string };
  cacheDir: string;
  /** Where the container's run directory (its env file) goes: runs/<id>. */
  runsDir: string;
  process: ProcessSpec;
  /**
   * Names in `process.env` whose values are not the caller's (the image's own and the defaults): passed as
   * they are. All others are treated as secrets (podman secrets under podman). Default: none.
   */
  publicEnv?: ReadonlySet<string>;
  mounts: BindMount[];
  network: "host" | "none";
  homeTmpfs: boolean;
  /** `--memory` / `--cpus`. */
  cgroup?: CgroupLimits;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
  kill?: AbortSignal;
  stopTimeoutMs?: number;
}

/** This process's soft:hard limit for a /proc/self/limits row, when it can be read. */
function ownLimit(row: string): string | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith(row));
    const m = line && /\s(\d+|unlimited)\s+(\d+|unlimited)\s/.exec(line.slice(row.length));
    if (!m) return undefined;
    const v = (s: string) => (s === "unlimited" ? "-1" : s);
    return `${v(m[1])}:${v(m[2])}`;
  } catch {
    return undefined;
  }
}

/**
 * nofile and nproc as this process has them (what a runc container inherits). nproc is capped at the kernel's
 * pid_max: no more processes can exist anyway, and some kernels (gVisor here) refuse a larger limit inside the
 * container even when the runner has it.
 */
function ownUlimits(): Record<string, string> {
  const out: Record<string, string> = {};
  const nofile = ownLimit("Max open files");
  if (nofile) out.nofile = nofile;
  const nproc = ownLimit("Max processes");
  if (nproc) {
    let pidMax = Infinity;
    try {
      pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim()) || Infinity;
    } catch {
      // not Linux
    }
    const cap = (v: string) => (v === "-1" ? pidMax : Math.min(Number(v), pidMax));
    const [soft, hard] = nproc.split(":").map(cap);
    out.nproc = [soft, hard].map((v) => (v === Infinity ? "-1" : String(v))).join(":");
  }
  return out;
}

function forceRemoveArgs(engine: EngineName, id: string): string[] {
  return engine === "podman" ? ["rm", "--force", "--time", "0", id] : ["rm", "--force", id];
}

export async function runWithEngine(o: EngineRunOptions): Promise<{ exitCode: number }> {
  const global = engineGlobalArgs(o.engine, o.cacheDir);
  const privateNames = new Set(o.process.env.map((e) => e.split("=", 1)[0]).filter((n) => !o.publicEnv?.has(n)));
  const env = splitEnv(o.process.env, o.engine === "podman" ? { containerId: o.id, privateNames } : undefined);
  const runDir = join(o.runsDir, o.id);
  let started = false;
  const secrets: string[] = [];
  let releaseRoot: () => void = () => undefined;
  const cleanupSync = () => {
    if (started) spawnSync(o.engine, [...global, ...forceRemoveArgs(o.engine, o.id)], { stdio: "ignore" });
    releaseRoot();
    removeEnvSecretsSync(global, secrets);
    scrubRunDirSync(runDir);
    rmSync(runDir, { recursive: true, force: true });
  };
  const unregister = onExitCleanup(cleanupSync);
  try {
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    writeMountsRecord(runDir, o.mounts);
    const envFile = env.fileLines.length ? join(runDir, "env") : undefined;
    if (envFile) writeFileSync(envFile, env.fileLines.join("\n") + "\n", { mode: 0o600 });
    let root: { rootfs: string } | { image: string };
    if ("lowerRootfs" in o.root) {
      const w = await writableRoot(o.root.lowerRootfs, runDir, o.root.mode);
      releaseRoot = w.releaseSync;
      root = { rootfs: w.path };
    } else root = { image: o.root.image };
    await createEnvSecrets(global, env.secrets ?? [], secrets);
    const args = engineRunArgs({ ...o, root, ulimits: ownUlimits(), envFile }, env);
    if (o.signal?.aborted || o.kill?.aborted) return { exitCode: 130 };
    started = true;
    const child = spawn(o.engine, [...global, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, ...env.byName },
    });
    child.stdout.pipe(o.stdout, { end: false });
    child.stderr.pipe(o.stderr, { end: false });
    let exited = false;
    // Retried while it fails and the container runs: a stop before the engine created it would be lost.
    const send = async (cmd: string[]) => {
      for (let attempt = 0; attempt < 60 && !exited; attempt++) {
        const r = await engineExec(o.engine, [...global, ...cmd, o.id], { timeoutMs: 60_000 });
        if (r.code === 0 || exited) return;
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    const seconds = String(Math.ceil((o.stopTimeoutMs ?? 5000) / 1000));
    const unwire = onRunAbort(
      o,
      () => void send(["stop", "-t", seconds]),
      () => void send(["kill", "--signal", "KILL"]),
    );
    const closed = new Promise<number>((resolve, reject) => {
      child.on("error", (e) => reject(new PipelineError("E_RUNTIME", `cannot start ${o.engine}: ${e.message}`)));
      child.on("close", (code, sig) => {
        exited = true;
        resolve(exitStatus(code, sig));
      });
    });
    try {
      return {
        exitCode: o.engine === "docker" ? await dockerExitCode(child, closed, o.id, () => exited) : await closed,
      };
    } finally {
      exited = true;
      unwire();
    }
  } finally {
    unregister();
    if (started) await engineExec(o.engine, [...global, ...forceRemoveArgs(o.engine, o.id)], { timeoutMs: 60_000 });
    releaseRoot();
    await removeEnvSecrets(global, secrets);
    scrubRunDirSync(runDir);
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * The exit code of an attached `docker run`. podman's Docker API before 4.6 never ends the attach stream of a
 * container that exited (and answers `wait?condition=removed`, what `docker run --rm` asks, with 0), so the
 * runner asks `docker wait NAME` (condition not-running, right on every daemon) alongside, retried until the
 * container exists and has started (podman answers -1 for a created, not yet started container). When that
 * answers, `docker run` gets 2 s to end on its own (it does with Docker) before it is killed (SIGKILL: it would
 * proxy SIGTERM to the container); its output has been delivered by then. When `docker run` ends first,
 * `docker wait` still gives the container's own code (the client's status is the answer only when the container
 * cannot be asked).
 */
async function dockerExitCode(
  child: ChildProcess,
  closed: Promise<number>,
  id: string,
  runEnded: () => boolean,
): Promise<number> {
  const waited = (async (): Promise<number | undefined> => {
    while (!runEnded()) {
      const r = await engineExec("docker", ["wait", id]);
      const code = Number(r.stdout.trim().split("\n").pop());
      // -1: the container exists but has not started yet (podman answers "not running" at once): ask again.
      if (r.code === 0 && Number.isInteger(code) && code >= 0) return code;
      await new Promise((res) => setTimeout(res, 250));
    }
    return undefined;
  })();
  const first = await Promise.race([closed.then((code) => ({ run: code })), waited.then((code) => ({ wait: code }))]);
  if ("run" in first) {
    // The client can end on its own with a status of its own (255 when podman's attach stream breaks): the
    // container, still there (no --rm), knows its exit code.
    const r = await engineExec("docker", ["wait", id]);
    const code = Number(r.stdout.trim().split("\n").pop());
    return r.code === 0 && Number.isInteger(code) && code >= 0 ? code : first.run;
  }
  if (first.wait === undefined) return closed;
  const grace = setTimeout(() => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL"); // the client: SIGTERM would be proxied to the container
    } catch {
      // already gone
    }
  }, 2000);
  try {
    await closed;
  } finally {
    clearTimeout(grace);
  }
  return first.wait;
}

/** Whether the docker CLI talks to a daemon on this machine (pids in container names mean something). */
function localDocker(env: NodeJS.ProcessEnv): boolean {
  const host = env.DOCKER_HOST;
  return !host || host.startsWith("unix://") || host.startsWith("npipe://");
}

/** Removes the engine's containers named `rp-...-<pid>-<start>-<hex>` whose runner is gone (cleanup.ts). Best effort. */
export async function reapStaleEngine(engine: EngineName, cacheDir: string): Promise<string[]> {
  if (engine === "docker" && !localDocker(process.env)) return [];
  const global = engineGlobalArgs(engine, cacheDir);
  const list = await engineExec(engine, [...global, "ps", "--all", "--format", "{{.Names}}"], { timeoutMs: 30_000 });
  if (list.code !== 0) return [];
  const reaped: string[] = [];
  for (const name of list.stdout.split("\n").map((s) => s.trim())) {
    if (!name.startsWith("rp-") || !ownerGone(name)) continue;
    await engineExec(engine, [...global, ...forceRemoveArgs(engine, name)], { timeoutMs: 60_000 });
    reaped.push(name);
  }
  if (engine === "podman") reaped.push(...(await reapStaleEnvSecrets(global)));
  return reaped;
}
