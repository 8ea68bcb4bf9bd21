/**
 * Containers through podman or docker, for machines without a usable runc. Only what the runner needs:
 * load the cached OCI layout into the engine, then `run --rm` with the process, env, mounts and network the
 * runc path would use (the argv, env and user are computed here, the same way, and passed explicitly).
 *  - podman: its own `--root`/`--runroot` under the cache (never the user's store), `--runtime runc`,
 *    `--ulimit` set to this process's own nofile/nproc limits (podman's defaults fail where limits cannot be
 *    raised), image loaded with `podman pull oci:LAYOUT`.
 *  - docker: the layout is streamed as a tar to `docker load` (docker >= 25 reads OCI layouts); `--init` makes
 *    SIGTERM work for a Node PID 1.
 * Stopping: `stop -t SECONDS` on abort, `kill` on the kill signal. Not exercised by the tests on machines
 * without podman or a docker daemon (see the report of the change that added it).
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import type { ProcessSpec } from "./process-spec";
import type { BindMount } from "./runc-config";

export interface EngineRunOptions {
  engine: "podman" | "docker";
  id: string;
  layoutDir: string;
  cacheDir: string;
  process: ProcessSpec;
  mounts: BindMount[];
  network: "host" | "none";
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
  kill?: AbortSignal;
  stopTimeoutMs?: number;
}

function run(cmd: string, args: string[], input?: NodeJS.ReadableStream): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: "utf8", maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const c = err ? (err as NodeJS.ErrnoException).code : 0;
      resolve({ code: typeof c === "number" ? c : err ? 127 : 0, stdout, stderr: stderr || (err?.message ?? "") });
    });
    if (input && child.stdin) input.pipe(child.stdin);
  });
}

/** This process's soft:hard limit for a /proc/self/limits row, when it can be read. */
function ownLimit(row: string): string | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(row));
    const m = line && /\s(\d+|unlimited)\s+(\d+|unlimited)\s/.exec(line.slice(row.length));
    if (!m) return undefined;
    const v = (s: string) => (s === "unlimited" ? "-1" : s);
    return `${v(m[1])}:${v(m[2])}`;
  } catch {
    return undefined;
  }
}

function globalArgs(o: EngineRunOptions): string[] {
  if (o.engine === "docker") return [];
  return ["--root", join(o.cacheDir, "podman", "root"), "--runroot", join(o.cacheDir, "podman", "runroot"), "--runtime", "runc"];
}

async function load(o: EngineRunOptions): Promise<string> {
  if (o.engine === "podman") {
    const r = await run("podman", [...globalArgs(o), "pull", "-q", `oci:${o.layoutDir}`]);
    const id = r.stdout.trim().split("\n").pop();
    if (r.code !== 0 || !id) throw new PipelineError("E_RUNTIME", `podman pull oci:${o.layoutDir} failed: ${r.stderr.trim()}`);
    return id;
  }
  const tar = spawn("tar", ["-C", o.layoutDir, "-cf", "-", "."], { stdio: ["ignore", "pipe", "ignore"] });
  const r = await run("docker", ["load"], tar.stdout);
  const m = /Loaded image(?: ID)?: (\S+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new PipelineError("E_RUNTIME", `docker load of ${o.layoutDir} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  return m[1];
}

export async function runWithEngine(o: EngineRunOptions): Promise<{ exitCode: number }> {
  const image = await load(o);
  const p = o.process;
  const args = [...globalArgs(o), "run", "--rm", "--name", o.id, "--network", o.network, "--user", `${p.user.uid}:${p.user.gid}`, "-w", p.cwd];
  args.push("--tmpfs", "/tmp:rw,mode=1777", "--entrypoint", p.args[0]);
  if (o.engine === "docker") args.push("--init");
  else {
    for (const [row, name] of [["Max open files", "nofile"], ["Max processes", "nproc"]] as const) {
      const lim = ownLimit(row);
      if (lim) args.push("--ulimit", `${name}=${lim}`);
    }
  }
  for (const e of p.env) args.push("-e", e);
  for (const m of o.mounts) args.push("--mount", `type=bind,source=${m.source},destination=${m.destination}${m.readonly ? ",readonly" : ""}`);
  args.push(image, ...p.args.slice(1));
  const child = spawn(o.engine, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout.pipe(o.stdout, { end: false });
  child.stderr.pipe(o.stderr, { end: false });
  const seconds = String(Math.ceil((o.stopTimeoutMs ?? 5000) / 1000));
  const onStop = () => void run(o.engine, [...globalArgs(o), "stop", "-t", seconds, o.id]);
  const onKill = () => void run(o.engine, [...globalArgs(o), "kill", o.id]);
  o.signal?.addEventListener("abort", onStop, { once: true });
  o.kill?.addEventListener("abort", onKill, { once: true });
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.on("error", (e) => reject(new PipelineError("E_RUNTIME", `cannot start ${o.engine}: ${e.message}`)));
      child.on("close", (code) => resolve(code ?? 137));
    });
    return { exitCode };
  } finally {
    o.signal?.removeEventListener("abort", onStop);
    o.kill?.removeEventListener("abort", onKill);
    await run(o.engine, [...globalArgs(o), "rm", "--force", o.id]);
  }
}
