/**
 * How the runner calls the podman and docker command-line tools.
 *
 * podman gets its own store under the cache root, never the user's (~/.local/share/containers or
 * /var/lib/containers/storage), on every call:
 *   --root      <cache>/podman/root      images and container layers (podman's overlay or vfs driver)
 *   --runroot   <cache>/podman/run       transient state. podman refuses a runroot longer than 50 characters:
 *               when the cache path is too long it is /run/rules_pipeline-podman-<hash of the cache path> (root),
 *               else $XDG_RUNTIME_DIR (or the temp directory)/rules_pipeline-podman-<hash>
 *   --tmpdir    <cache>/podman/tmp       libpod's state (exit files, attach sockets), not /run/libpod
 *   --network-config-dir <cache>/podman/networks, --events-backend none (no events log), and when runc is on
 *   PATH: --runtime runc --runtime-flag root=<runroot>/runc (crun fails on hybrid cgroups; runc's state stays
 *   out of /run/runc). Without runc on PATH podman's configured runtime is used.
 * What podman still touches outside: its empty network run directory (/run/containers/networks for root),
 * containers/image's blob-info cache (/var/lib/containers/cache for root; metadata, shared with skopeo), and
 * with the cgroupfs manager an empty `libpod_parent` cgroup (as every `podman run` does).
 *
 * docker has no such flags: it is whatever daemon DOCKER_HOST (or the docker context) names, e.g.
 * `podman system service unix://...` (how it was tested here).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { PipelineError } from "../errors";

export type EngineName = "podman" | "docker";

/** podman's limit on --runroot (libpod: "the specified runroot is longer than 50 characters"). */
const MAX_RUNROOT = 50;

/** Whether `cmd` is an executable file in one of PATH's directories. */
export function onPath(cmd: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

export interface PodmanDirs {
  root: string;
  runroot: string;
  tmpdir: string;
  networks: string;
}

/**
 * Makes `dir` (mode 0700) unless it exists, then checks that it is a directory (not a link) of this user that nobody
 * else may enter: else E_RUN_CONTAINER naming it, its owner and its mode.
 */
export function ownPrivateDirSync(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (st.isSymbolicLink() || !st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0)
    throw new PipelineError(
      "E_RUN_CONTAINER",
      `${dir}: podman's run directory must be a private directory of this user (uid ${uid}), and it is ${st.isSymbolicLink() ? "a symbolic link" : st.isDirectory() ? "a directory" : "not a directory"} of uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}: remove it, or set XDG_RUNTIME_DIR`,
    );
}

export function podmanDirs(cacheDir: string, env: NodeJS.ProcessEnv = process.env): PodmanDirs {
  const base = join(resolve(cacheDir), "podman");
  let runroot = join(base, "run");
  if (runroot.length > MAX_RUNROOT) {
    const hash = createHash("sha256").update(resolve(cacheDir)).digest("hex").slice(0, 12);
    const shared = process.getuid?.() !== 0 && !env.XDG_RUNTIME_DIR;
    const parent = process.getuid?.() === 0 ? "/run" : env.XDG_RUNTIME_DIR || tmpdir();
    runroot = join(parent, `rules_pipeline-podman-${hash}`);
    // In a directory other users may write to (/tmp), a predictable name could be theirs first: it must be ours.
    if (shared) ownPrivateDirSync(runroot);
  }
  return { root: join(base, "root"), runroot, tmpdir: join(base, "tmp"), networks: join(base, "networks") };
}

/** The arguments every podman call of the runner starts with (see the comment at the top). */
export function podmanGlobalArgs(cacheDir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const d = podmanDirs(cacheDir, env);
  const args = [
    "--root",
    d.root,
    "--runroot",
    d.runroot,
    "--tmpdir",
    d.tmpdir,
    "--network-config-dir",
    d.networks,
    "--events-backend",
    "none",
  ];
  if (onPath("runc", env)) args.push("--runtime", "runc", "--runtime-flag", `root=${join(d.runroot, "runc")}`);
  return args;
}

export function engineGlobalArgs(engine: EngineName, cacheDir: string): string[] {
  return engine === "podman" ? podmanGlobalArgs(cacheDir) : [];
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the engine to completion; never rejects (a missing binary is code 127). */
export function engineExec(
  engine: EngineName,
  args: string[],
  opts: { cwd?: string; input?: NodeJS.ReadableStream; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((done) => {
    const child = execFile(
      engine,
      args,
      { encoding: "utf8", maxBuffer: 16 << 20, cwd: opts.cwd, timeout: opts.timeoutMs ?? 0, env: opts.env },
      (err, stdout, stderr) => {
        const c = err ? (err as NodeJS.ErrnoException).code : 0;
        done({
          code: typeof c === "number" ? c : err ? 127 : 0,
          stdout,
          stderr: stderr || (err && typeof c !== "number" ? err.message : ""),
        });
      },
    );
    if (opts.input && child.stdin) opts.input.pipe(child.stdin);
    else child.stdin?.end();
  });
}
