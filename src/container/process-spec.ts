/**
 * What runs in the container, from the image config and the caller's overrides, with Kubernetes/docker
 * semantics:
 *  - `command` replaces the image's Entrypoint (and then the image's Cmd is dropped);
 *  - `args` replace the image's Cmd and follow the entrypoint;
 *  - env: the image's Env, then the caller's (same name: the caller's wins, in the image's position); PATH gets
 *    the usual default when neither sets it, HOME the user's home from the image's /etc/passwd (else "/"), and
 *    PIPELINE_IN_CONTAINER=1 (unless the caller sets it), so `inContainer()` of @rules_pipeline/runtime is true in
 *    every container `pipeline run --image` starts, not only in runInContainer's;
 *  - working directory: the caller's, else the image's WorkingDir, else "/";
 *  - user: the image's User (`name`, `uid`, `uid:gid`, `name:group`), looked up in the rootfs' /etc/passwd and
 *    /etc/group; a name that is not there is an error naming the image's User.
 */
import { lstatSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { PipelineError } from "../errors";
import type { ImageConfig } from "../oci/types";
import { ENV_IN_CONTAINER } from "../runtime";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ProcessOverrides {
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
}

export interface ProcessSpec {
  args: string[];
  /** `NAME=value` entries. */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids?: number[] };
  home: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Checks an environment variable name; `what` names where it came from (a flag, a spec field). */
export function checkEnvName(name: string, what: string): void {
  if (!ENV_NAME.test(name))
    throw new PipelineError("E_BAD_ENV", `${what}: invalid environment variable name ${JSON.stringify(name)}`);
}

export function processSpec(config: ImageConfig, rootfs: string, o: ProcessOverrides): ProcessSpec {
  const c = config.config ?? {};
  const entrypoint = o.command ?? c.Entrypoint ?? [];
  const cmd = o.args ?? (o.command ? [] : (c.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new PipelineError(
      "E_RUN_NO_COMMAND",
      "nothing to run: the image has no Entrypoint or Cmd and no command or arguments were given",
    );
  }
  const cwd = o.workingDir || c.WorkingDir || "/";
  if (!posix.isAbsolute(cwd))
    throw new PipelineError(
      "E_BAD_WORKDIR",
      `working directory must be an absolute path in the container, got ${JSON.stringify(cwd)}`,
    );
  const user = resolveUser(rootfs, c.User ?? "");
  const env = mergeEnv(c.Env ?? [], o.env ?? {});
  const has = (k: string) => env.some((e) => e.startsWith(`${k}=`));
  if (!has("PATH")) env.unshift(`PATH=${DEFAULT_PATH}`);
  const home = env.find((e) => e.startsWith("HOME="))?.slice(5) || user.home;
  if (!has("HOME")) env.push(`HOME=${home}`);
  if (!has(ENV_IN_CONTAINER)) env.push(`${ENV_IN_CONTAINER}=1`);
  return { args, env, cwd, user: { uid: user.uid, gid: user.gid }, home };
}

function mergeEnv(base: string[], add: Record<string, string>): string[] {
  const out = [...base];
  for (const [k, v] of Object.entries(add)) {
    checkEnvName(k, "env");
    const i = out.findIndex((e) => e.split("=", 1)[0] === k);
    if (i >= 0) out[i] = `${k}=${v}`;
    else out.push(`${k}=${v}`);
  }
  return out;
}

/** A regular file inside the rootfs, read without following symlinks out of it (undefined when absent or a link). */
function readRootFile(rootfs: string, path: string): string | undefined {
  const parts = path.split("/").filter(Boolean);
  let cur = rootfs;
  for (const p of parts) {
    cur = join(cur, p);
    try {
      const st = lstatSync(cur);
      if (st.isSymbolicLink()) return undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return readFileSync(cur, "utf8");
  } catch {
    return undefined;
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length < 6 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" });
  }
  return out;
}

function parseGroup(text: string | undefined): { name: string; gid: number }[] {
  const out: { name: string; gid: number }[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]) });
  }
  return out;
}

/** The image's `User` as ids and a home directory. */
export function resolveUser(rootfs: string, spec: string): { uid: number; gid: number; home: string } {
  const passwd = parsePasswd(readRootFile(rootfs, "/etc/passwd"));
  const [u, g] = spec.split(":", 2);
  const bad = (why: string) => new PipelineError("E_IMAGE_USER", `the image's User ${JSON.stringify(spec)}: ${why}`);
  let uid = 0;
  let gid = 0;
  let home = "/";
  if (u) {
    const entry = /^\d+$/.test(u) ? passwd.find((p) => p.uid === Number(u)) : passwd.find((p) => p.name === u);
    if (/^\d+$/.test(u)) uid = Number(u);
    else if (!entry) throw bad(`no user ${JSON.stringify(u)} in the image's /etc/passwd`);
    if (entry) {
      uid = entry.uid;
      gid = entry.gid;
      home = entry.home;
    }
  } else {
    const root = passwd.find((p) => p.uid === 0);
    home = root?.home ?? "/";
  }
  if (g) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const grp = parseGroup(readRootFile(rootfs, "/etc/group")).find((x) => x.name === g);
      if (!grp) throw bad(`no group ${JSON.stringify(g)} in the image's /etc/group`);
      gid = grp.gid;
    }
  }
  return { uid, gid, home };
}
