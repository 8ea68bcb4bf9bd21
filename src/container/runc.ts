/**
 * One container under runc. The bundle is runs/<id>/ (mode 0700): config.json (runc-config.ts) and rootfs/
 * (an overlay or a copy, rootfs.ts). `runc run --bundle DIR ID` runs in the foreground in its own process
 * group (a terminal's Ctrl-C reaches only the runner, which decides), stdin /dev/null, stdout and stderr piped
 * through as they come. runc's exit status is the container's (128+N when killed by signal N).
 *
 * Stopping (the abort signal): SIGTERM to every process of the container, then SIGKILL after `stopTimeoutMs`
 * (default 5 s). A Node program that is PID 1 ignores SIGTERM unless it installs a handler, so without one it
 * is killed after the grace period. The `kill` signal skips the grace period.
 *
 * config.json is a FIFO the runner feeds once runc opens it (config-fifo.ts): the env values in it never reach
 * the disk, not even when the runner is SIGKILLed. Cleanup on every path: `runc delete --force ID`, unmount the
 * overlay, remove runs/<id>. A synchronous copy of that is registered for process exit (cleanup.ts);
 * `reapStale` removes what a killed runner left. runc's own state (state.json, with the same env) lives under
 * its --root (/run/runc, a tmpfs, by default) and goes with `runc delete`.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { feedConfigFifo, makeConfigFifo } from "./config-fifo";
import { writeMountsRecord } from "./mounts-record";
import { onExitCleanup, ownerGone, reapStaleRunDirs, scrubRunDirSync } from "./cleanup";
import { exitStatus, terminateOnRunAbort } from "../process/signals";
import { type BindMount, type CgroupLimits, runcConfig } from "./runc-config";
import type { ProcessSpec } from "./process-spec";
import { type RootfsMode, writableRoot } from "./rootfs";

export interface RuncRunOptions {
  id: string;
  /** The cached rootfs (read-only). */
  lowerRootfs: string;
  runsDir: string;
  process: ProcessSpec;
  mounts: BindMount[];
  network: "host" | "none";
  hostname: string;
  homeTmpfs: boolean;
  rootfsMode?: RootfsMode;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
  kill?: AbortSignal;
  stopTimeoutMs?: number;
  /** runc's --root (state directory); default runc's own. */
  runcRoot?: string;
  runc?: string;
  cgroup?: CgroupLimits;
}

function runcArgs(o: { runcRoot?: string }, ...args: string[]): string[] {
  return o.runcRoot ? ["--root", o.runcRoot, ...args] : args;
}

function runcExec(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: "utf8", maxBuffer: 16 << 20, timeout: 30_000 }, (err, stdout, stderr) => {
      const c = err ? (err as NodeJS.ErrnoException).code : 0;
      resolve({ code: typeof c === "number" ? c : err ? 127 : 0, stdout, stderr });
    });
  });
}

export async function runWithRunc(o: RuncRunOptions): Promise<{ exitCode: number }> {
  const runc = o.runc ?? "runc";
  const runDir = join(o.runsDir, o.id);
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  chmodSync(runDir, 0o700);
  let releaseRoot: () => void = () => undefined;
  let started = false;
  const cleanupSync = () => {
    if (started) spawnSync(runc, runcArgs(o, "delete", "--force", o.id), { stdio: "ignore" });
    releaseRoot();
    scrubRunDirSync(runDir);
    rmSync(runDir, { recursive: true, force: true });
  };
  const unregister = onExitCleanup(cleanupSync);
  try {
    const root = await writableRoot(o.lowerRootfs, runDir, o.rootfsMode);
    releaseRoot = root.releaseSync;
    const uid = process.getuid?.() ?? 0;
    const config = runcConfig({
      process: o.process,
      rootPath: root.path,
      hostname: o.hostname,
      network: o.network,
      mounts: o.mounts,
      homeTmpfs: o.homeTmpfs,
      cgroup: o.cgroup,
      rootless: uid === 0 ? undefined : { uid, gid: process.getgid?.() ?? uid },
    });
    const configPath = join(runDir, "config.json");
    await makeConfigFifo(configPath);
    writeMountsRecord(runDir, o.mounts);
    if (o.signal?.aborted || o.kill?.aborted) return { exitCode: 130 };
    started = true;
    const child = spawn(runc, runcArgs(o, "run", "--bundle", runDir, o.id), {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let runcExited = false;
    child.on("exit", () => (runcExited = true));
    // config-fifo.ts: the config (env values) goes through the FIFO, never onto the disk. A failed feed shows
    // as runc's own error (it cannot parse its config).
    feedConfigFifo(configPath, Buffer.from(JSON.stringify(config, null, 1)), () => runcExited).catch(() => undefined);
    child.stdout.pipe(o.stdout as NodeJS.WritableStream, { end: false });
    child.stderr.pipe(o.stderr as NodeJS.WritableStream, { end: false });
    const unwire = terminateOnRunAbort(
      o,
      (sig) => void runcExec(runc, runcArgs(o, "kill", "--all", o.id, sig.slice("SIG".length))),
    );
    try {
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.on("error", (e) => reject(new PipelineError("E_RUNTIME", `cannot start ${runc}: ${e.message}`)));
        child.on("close", (code, sig) => resolve(exitStatus(code, sig)));
      });
      return { exitCode };
    } finally {
      unwire();
    }
  } finally {
    unregister();
    if (started) await runcExec(runc, runcArgs(o, "delete", "--force", o.id));
    releaseRoot();
    scrubRunDirSync(runDir);
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * Removes what runs whose runner died left behind: runc containers and run directories named
 * `...-<pid>-<start>-<hex>` whose owner no longer runs (cleanup.ts; unmounting their overlay first). Quiet and best
 * effort.
 */
export async function reapStale(runsDir: string, opts: { runcRoot?: string; runc?: string } = {}): Promise<string[]> {
  const runc = opts.runc ?? "runc";
  const reaped: string[] = [];
  const list = await runcExec(runc, runcArgs(opts, "list", "--format", "json"));
  if (list.code === 0 && list.stdout.trim() && list.stdout.trim() !== "null") {
    try {
      for (const c of JSON.parse(list.stdout) as { id: string }[]) {
        if (ownerGone(c.id) && c.id.startsWith("rp-")) {
          await runcExec(runc, runcArgs(opts, "delete", "--force", c.id));
          reaped.push(c.id);
        }
      }
    } catch {
      // not JSON: an older runc; nothing to reap
    }
  }
  reaped.push(...(await reapStaleRunDirs(runsDir)));
  return reaped;
}
