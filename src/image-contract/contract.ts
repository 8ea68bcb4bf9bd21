/**
 * The image contract (docs/image-contract.md), checked on an image's config and file index without running
 * anything. Each requirement has a stable id; "required" ones decide the verdict, "recommended" ones only warn.
 */
import { elfPlatform } from "../elf";
import type { ImageConfig } from "../oci/types";
import type { FileIndex, Resolution } from "./file-index";
import { type ImageUser, permits, resolveImageUser } from "./users";

export type Severity = "required" | "recommended";
export type Status = "ok" | "miss" | "warn";

export interface Requirement {
  id: string;
  severity: Severity;
  title: string;
}

export interface CheckResult extends Requirement {
  status: Status;
  message: string;
}

export const APP_DIR = "/app";
export const RUNTIME_DIR = "/app/node_modules/@rules_pipeline/runtime";
/** What runc, containerd and Docker use when the image sets no PATH (they differ; this is their common core). */
export const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export const REQUIREMENTS: readonly Requirement[] = [
  { id: "C1", severity: "required", title: "Linux image" },
  { id: "C2", severity: "required", title: 'entrypoint ["node", "/app/<entry>.js"], empty Cmd' },
  { id: "C3", severity: "required", title: "working directory /app" },
  { id: "C4", severity: "required", title: "entry script in the image" },
  { id: "C5", severity: "required", title: "PATH set in the image's environment" },
  { id: "C6", severity: "required", title: "node on PATH, executable by the image's user" },
  { id: "C7", severity: "required", title: "node built for the image's platform" },
  { id: "C8", severity: "required", title: "the image's user exists" },
  { id: "C9", severity: "required", title: "HOME exists and is writable by the image's user" },
  { id: "C10", severity: "recommended", title: "runtime library at /app/node_modules/@rules_pipeline/runtime" },
  { id: "C11", severity: "recommended", title: "/tmp exists and is writable" },
  { id: "C12", severity: "recommended", title: "runs as a non-root user" },
];

/** What the index must keep for the checks: /etc/passwd and /etc/group whole, the head of anything named node*. */
export const INDEX_OPTIONS = {
  capture: ["etc/passwd", "etc/group"],
  wantHead: (path: string) => /(^|\/)node[^/]*$/.test(path),
  headBytes: 64,
};

type Outcome = { status: Status; message: string };

const ok = (message: string): Outcome => ({ status: "ok", message });
const miss = (message: string): Outcome => ({ status: "miss", message });

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}

function describeFailure(r: Extract<Resolution, { ok: false }>, what: string): string {
  const via = r.via.length ? ` (via ${r.via.join(", ")})` : "";
  if (r.reason === "loop") return `${what}: too many symlinks at ${r.at}${via}`;
  if (r.reason === "not-dir") return `${what}: ${r.at} is not a directory${via}`;
  return `${what}: ${r.at} does not exist${via}`;
}

function envOf(config: ImageConfig): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of config.config?.Env ?? []) {
    const i = e.indexOf("=");
    if (i > 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  return env;
}

/** The script the entrypoint runs: the first argument after "node" that is not an option. */
function entryScript(entrypoint: string[]): string | undefined {
  const rest = entrypoint.slice(1);
  return rest.find((a) => !a.startsWith("-"));
}

function checkPlatform(config: ImageConfig): Outcome {
  const p = `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ""}`;
  return config.os === "linux" && config.architecture
    ? ok(`platform is ${p}`)
    : miss(`platform is ${p}: the runner and Kubernetes nodes run linux images`);
}

function checkEntrypoint(config: ImageConfig): Outcome {
  const ep = config.config?.Entrypoint ?? [];
  const cmd = config.config?.Cmd ?? [];
  const shown = JSON.stringify(ep).replace(/","/g, '", "');
  if (ep.length === 0)
    return miss(`no entrypoint (Cmd is ${JSON.stringify(cmd)}): expected ["node", "/app/<entry>.js"]`);
  if (ep[0] !== "node") return miss(`entrypoint is ${shown}: it must start with "node" (found on PATH)`);
  const script = entryScript(ep);
  if (script === undefined) return miss(`entrypoint is ${shown}: no script after "node"`);
  if (ep[ep.length - 1] !== script)
    return miss(`entrypoint is ${shown}: the script must be the last element, so that container arguments go to it`);
  if (!script.startsWith(`${APP_DIR}/`) || !/\.(c|m)?js$/.test(script))
    return miss(`entrypoint is ${shown}: the script must be a .js/.mjs/.cjs file under ${APP_DIR}/`);
  if (cmd.length > 0)
    return miss(
      `entrypoint is ${shown} but Cmd is ${JSON.stringify(cmd)}: Cmd must be empty (it would be passed to the script as arguments)`,
    );
  return ok(`entrypoint is ${shown}`);
}

function checkWorkingDir(config: ImageConfig, index: FileIndex): Outcome {
  const wd = config.config?.WorkingDir ?? "";
  if (wd.replace(/\/+$/, "") !== APP_DIR)
    return miss(`working directory is ${JSON.stringify(wd)}, expected "${APP_DIR}"`);
  const r = index.resolve(APP_DIR);
  if (!r.ok) return miss(describeFailure(r, `working directory ${APP_DIR}`));
  if (r.entry.type !== "dir") return miss(`working directory ${APP_DIR} is a ${r.entry.type}, not a directory`);
  return ok(`working directory is ${APP_DIR}`);
}

function checkEntryScript(config: ImageConfig, index: FileIndex, user: ImageUser | undefined): Outcome {
  const ep = config.config?.Entrypoint ?? [];
  const script = ep[0] === "node" ? entryScript(ep) : undefined;
  if (!script?.startsWith("/")) return miss("no entry script to look for (see C2)");
  const r = index.resolve(script);
  if (!r.ok) return miss(describeFailure(r, `entry script ${script}`));
  if (r.entry.type !== "file") return miss(`entry script ${script} is a ${r.entry.type}, not a regular file`);
  if (user && !permits(user, r.entry, 4))
    return miss(
      `entry script ${script} is not readable by uid ${user.uid} (mode ${octal(r.entry.mode)}, owner ${r.entry.uid}:${r.entry.gid})`,
    );
  return ok(`entry script ${script} is a regular file (${r.entry.size} bytes)`);
}

function pathDirs(config: ImageConfig): string[] {
  return (envOf(config).get("PATH") ?? FALLBACK_PATH).split(":").filter((d) => d.startsWith("/"));
}

interface NodeFound {
  path: string;
  resolved: Extract<Resolution, { ok: true }>;
}

/**
 * The `node` a PATH search finds, as runc's and execvp's do: the first regular file named node that the user
 * may execute; else the reasons each candidate was passed over.
 */
function findNode(
  config: ImageConfig,
  index: FileIndex,
  user: ImageUser | undefined,
): { found?: NodeFound; problems: string[] } {
  const problems: string[] = [];
  const runner = user ?? { uid: 0, gid: 0 };
  for (const dir of pathDirs(config)) {
    const path = `${dir.replace(/\/+$/, "")}/node`;
    const r = index.resolve(path);
    if (!r.ok) {
      if (r.via.length > 0 || r.reason !== "missing") problems.push(describeFailure(r, path));
      continue;
    }
    const where = r.path === path ? path : `${path} -> ${r.path}`;
    if (r.entry.type !== "file") problems.push(`${where} is a ${r.entry.type}, not a regular file`);
    else if (!permits(runner, r.entry, 1)) {
      problems.push(
        `${where} is not executable by uid ${runner.uid} (mode ${octal(r.entry.mode)}, owner ${r.entry.uid}:${r.entry.gid})`,
      );
    } else return { found: { path, resolved: r }, problems };
  }
  return { problems };
}

function checkNode(config: ImageConfig, index: FileIndex, user: ImageUser | undefined): Outcome {
  const { found, problems } = findNode(config, index, user);
  if (!found) {
    if (problems.length) return miss(`no executable node on PATH: ${problems.join("; ")}`);
    return miss(`node not found on PATH (${pathDirs(config).join(", ")})`);
  }
  const { path, resolved } = found;
  const where = resolved.path === path ? path : `${path} -> ${resolved.path}`;
  return ok(`node at ${where} (mode ${octal(resolved.entry.mode)})`);
}

function checkNodePlatform(config: ImageConfig, index: FileIndex, user: ImageUser | undefined): Outcome {
  const { found } = findNode(config, index, user);
  if (found?.resolved.entry.type !== "file") return miss("no node binary to look at (see C6)");
  const head = found.resolved.entry.head;
  const where = found.resolved.path;
  if (!head || head.length < 20)
    return miss(`${where} is too short to be a node binary (${found.resolved.entry.size} bytes)`);
  if (head.subarray(0, 2).toString("latin1") === "#!") {
    return ok(
      `${where} is a script (${JSON.stringify(head.toString("latin1").split("\n")[0])}); its interpreter is not checked`,
    );
  }
  let platform;
  try {
    platform = elfPlatform(head, where);
  } catch (e) {
    return miss((e as Error).message);
  }
  if (platform.os !== config.os || platform.architecture !== config.architecture) {
    return miss(
      `${where} is a ${platform.os}/${platform.architecture} executable but the image is ${config.os}/${config.architecture}`,
    );
  }
  return ok(`${where} is a ${platform.os}/${platform.architecture} ELF executable`);
}

function passwdOf(index: FileIndex, file: string): string | undefined {
  const r = index.resolve(file);
  return r.ok && r.entry.type === "file" && r.entry.content ? r.entry.content.toString("utf8") : undefined;
}

function homeOf(config: ImageConfig, user: ImageUser): { home: string; from: string } {
  const env = envOf(config).get("HOME");
  if (env) return { home: env, from: "HOME in the image's Env" };
  if (user.home) return { home: user.home, from: `/etc/passwd entry of ${user.name ?? `uid ${user.uid}`}` };
  return { home: "/", from: "no HOME in Env and no /etc/passwd entry: runtimes use /" };
}

function checkHome(config: ImageConfig, index: FileIndex, user: ImageUser | undefined): Outcome {
  if (!user) return miss("the image's user cannot be resolved (see C8)");
  const { home, from } = homeOf(config, user);
  const r = index.resolve(home);
  if (!r.ok) return miss(describeFailure(r, `HOME ${home} (${from})`));
  if (r.entry.type !== "dir") return miss(`HOME ${home} (${from}) is a ${r.entry.type}, not a directory`);
  if (!permits(user, r.entry, 2 | 1, true)) {
    return miss(
      `HOME ${home} (${from}) is not writable by uid ${user.uid} gid ${user.gid} (mode ${octal(r.entry.mode)}, owner ${r.entry.uid}:${r.entry.gid})`,
    );
  }
  return ok(`HOME ${home} (${from}) is writable by uid ${user.uid}`);
}

function checkRuntime(index: FileIndex): Outcome {
  const r = index.resolve(RUNTIME_DIR);
  if (!r.ok || r.entry.type !== "dir")
    return {
      status: "warn",
      message: `no ${RUNTIME_DIR}: launch scripts that import @rules_pipeline/runtime will fail`,
    };
  const main = [`${RUNTIME_DIR}/index.js`, `${RUNTIME_DIR}/package.json`].find((p) => {
    const f = index.resolve(p);
    return f.ok && f.entry.type === "file";
  });
  if (!main) return { status: "warn", message: `${RUNTIME_DIR} has neither index.js nor package.json` };
  return ok(`runtime library at ${RUNTIME_DIR} (${main.slice(RUNTIME_DIR.length + 1)})`);
}

function checkTmp(index: FileIndex, user: ImageUser | undefined): Outcome {
  const r = index.resolve("/tmp");
  if (!r.ok || r.entry.type !== "dir")
    return { status: "warn", message: "no /tmp directory: os.tmpdir() and many packages expect one" };
  if (!permits(user ?? { uid: 0, gid: 0 }, r.entry, 2 | 1, true)) {
    return { status: "warn", message: `/tmp is not writable by uid ${user?.uid ?? 0} (mode ${octal(r.entry.mode)})` };
  }
  return ok(`/tmp (mode ${octal(r.entry.mode)})`);
}

/** Root (an empty or unset User, or uid 0) only warns: many bases run as root, but a non-root user limits what an exploited program can do. */
function checkNonRoot(config: ImageConfig, user: ImageUser | undefined): Outcome {
  if (!user) return { status: "warn", message: "the image's user cannot be resolved (see C8)" };
  const raw = config.config?.User;
  if (user.uid === 0) {
    const shown = raw ? `user ${JSON.stringify(raw)} is root (uid 0)` : "no user set: the container runs as root";
    return {
      status: "warn",
      message: `${shown}; set a non-root user (pipeline(user = "1000:1000") or a name in the image's /etc/passwd)`,
    };
  }
  return ok(`runs as uid ${user.uid}`);
}

/** Checks every requirement, in the order of REQUIREMENTS. */
export function checkContract(config: ImageConfig, index: FileIndex): CheckResult[] {
  const userRes = resolveImageUser(config.config?.User, passwdOf(index, "/etc/passwd"), passwdOf(index, "/etc/group"));
  const user = userRes.ok ? userRes.user : undefined;
  const userOutcome: Outcome = userRes.ok
    ? ok(
        `user ${config.config?.User ? JSON.stringify(config.config.User) : "(none: root)"} is uid ${user!.uid} gid ${user!.gid}`,
      )
    : miss(userRes.problem);
  const pathEnv = envOf(config).get("PATH");
  const outcomes: Record<string, () => Outcome> = {
    C1: () => checkPlatform(config),
    C2: () => checkEntrypoint(config),
    C3: () => checkWorkingDir(config, index),
    C4: () => checkEntryScript(config, index, user),
    C5: () =>
      pathEnv ? ok(`PATH=${pathEnv}`) : miss(`no PATH in the image's Env: runtimes differ in what they use instead`),
    C6: () => checkNode(config, index, user),
    C7: () => checkNodePlatform(config, index, user),
    C8: () => userOutcome,
    C9: () => checkHome(config, index, user),
    C10: () => checkRuntime(index),
    C11: () => checkTmp(index, user),
    C12: () => checkNonRoot(config, user),
  };
  return REQUIREMENTS.map((req) => {
    const o = outcomes[req.id]();
    const status: Status = o.status === "miss" && req.severity === "recommended" ? "warn" : o.status;
    return { ...req, status, message: o.message };
  });
}

/** One line per requirement: `ok   C1 ...`, `MISS C6 ...`, `warn C10 ...`. */
export function formatResult(r: CheckResult): string {
  const tag = r.status === "ok" ? "ok  " : r.status === "miss" ? "MISS" : "warn";
  return `${tag} ${r.id} ${r.message}`;
}
