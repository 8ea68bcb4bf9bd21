/**
 * Installs a lockfile project's dependencies in a scratch directory with the package manager its lockfile needs
 * (package-managers.ts): `npm ci` (npm.ts), or the pinned pnpm (`--frozen-lockfile`, `node-linker=hoisted`: the flat
 * node_modules npm makes), yarn classic (`--frozen-lockfile`) or Yarn 4 (`--immutable`, `nodeLinker: node-modules`),
 * always without install scripts and without devDependencies. The scratch directory gets package.json, the lockfile,
 * the manifests (workspace package.json files) and the allowed keys of the project's package-manager configuration
 * (.npmrc, yarn 1's .yarnrc, Yarn 4's .yarnrc.yml, pnpm-workspace.yaml), nothing else. Before anything runs, a yarn
 * lockfile's dependencies that yarn would prepare from source (git: yarn runs their scripts, scripts off or not) are
 * refused unless allowed to run scripts (bootstrap/npm_guard.js, which npm_dependencies runs too).
 *
 * Workspace packages: the package manager links `node_modules/@acme/lib` to `packages/lib`. Such a link is taken out
 * of the tree and returned as a symlink for the layer (`/app/node_modules/@acme/lib -> ../../packages/lib`), which the
 * code layer's `/app/packages/lib` satisfies: the image holds the tree a developer's node resolves in, and editing the
 * workspace package changes the code layer only.
 */
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { CONFIG_FILES, CONFIG_NAMES, filterConfig, GuardError, sourceProblem } from "../../bootstrap/npm_guard";
import { PipelineError } from "../errors";
import { npmCi, redactNpmOutput, runNpm, tail } from "./npm";
import { ensureTool, PACKAGE_MANAGERS } from "./package-managers";
import type { LockfileProject } from "./project";

export interface InstallOptions {
  env: NodeJS.ProcessEnv;
  /** Where the pinned tools are kept (`<cacheDir>/tools`). */
  cacheDir: string;
  timeoutMs?: number;
  /** The install-script allow-list (`--allow-install-scripts`): these packages may be prepared from source. */
  allowScripts?: readonly string[];
  /** Where the configuration keys left out are reported. */
  log?: (line: string) => void;
}

export interface Installed {
  /** The node_modules directory made, if any. */
  nodeModules?: string;
  /** Workspace links taken out of it: path under node_modules ("@acme/lib") -> link text ("../../packages/lib"). */
  workspaceLinks: { path: string; target: string }[];
  /** Directories of workspace packages' own node_modules (deps that could not be hoisted): project-relative path. */
  workspaceNodeModules: string[];
}

type Project = Pick<
  LockfileProject,
  "dir" | "packageJsonPath" | "lockfilePath" | "manager" | "manifests" | "installTree"
>;

async function runManager(work: string, project: Project, opts: InstallOptions): Promise<void> {
  const manager = project.manager;
  if (manager === "npm") return;
  const tool = await ensureTool(manager, opts.cacheDir);
  const env: NodeJS.ProcessEnv = { ...opts.env, npm_config_update_notifier: "false", COREPACK_ENABLE_STRICT: "0" };
  let args: string[];
  if (manager === "pnpm") {
    args = [
      "install",
      "--frozen-lockfile",
      "--ignore-scripts",
      "--ignore-pnpmfile",
      "--prod",
      "--config.node-linker=hoisted",
      "--config.package-import-method=copy",
      "--config.manage-package-manager-versions=false",
      "--reporter=append-only",
    ];
  } else if (manager === "yarn-classic") {
    args = [
      "install",
      "--frozen-lockfile",
      "--ignore-scripts",
      "--production",
      "--non-interactive",
      "--no-progress",
      "--ignore-engines",
    ];
  } else {
    Object.assign(env, {
      // The pinned Yarn runs, not the one a .yarnrc.yml's `yarnPath` names (npm_repo.bzl does the same).
      YARN_IGNORE_PATH: "1",
      YARN_NODE_LINKER: "node-modules",
      YARN_ENABLE_TELEMETRY: "0",
      YARN_ENABLE_GLOBAL_CACHE: "true",
      YARN_ENABLE_SCRIPTS: "false",
      YARN_ENABLE_PROGRESS_BARS: "false",
      YARN_ENABLE_IMMUTABLE_INSTALLS: "true",
    });
    // Yarn 4 has no production install but `workspaces focus --production` (its bundled workspace-tools plugin).
    args = ["workspaces", "focus", "--all", "--production"];
  }
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const r = await runNpm([process.execPath, tool], args, { cwd: work, env, timeoutMs, keep: 64_000 });
  if (r.code === 0) return;
  const what = `${manager} ${PACKAGE_MANAGERS[manager].version} \`${args.join(" ")}\``;
  throw new PipelineError(
    "E_NPM",
    `${what} ${r.signal ? `was killed (${r.signal})` : `failed (exit ${r.code})`} for ${project.lockfilePath}:\n${tail(redactNpmOutput(r.out))}`,
  );
}

/** Takes the links to workspace directories out of `work/node_modules` (top level and scoped). */
function takeWorkspaceLinks(work: string): Pick<Installed, "workspaceLinks" | "workspaceNodeModules"> {
  const nm = join(work, "node_modules");
  const root = realpathSync.native(work);
  const links: Installed["workspaceLinks"] = [];
  const nested: string[] = [];
  const names: string[] = [];
  for (const name of readdirSync(nm).sort()) {
    if (name.startsWith(".")) continue;
    if (name.startsWith("@") && lstatSync(join(nm, name)).isDirectory()) {
      for (const sub of readdirSync(join(nm, name)).sort()) names.push(`${name}/${sub}`);
    } else names.push(name);
  }
  for (const name of names) {
    const p = join(nm, name);
    if (!lstatSync(p).isSymbolicLink()) continue;
    let real: string;
    try {
      real = realpathSync.native(p); // the kernel's: Node's realpathSync reads a `..` after a link lexically
    } catch {
      continue;
    }
    const rel = relative(root, real);
    if (rel.startsWith("..") || rel.split(sep).includes("node_modules")) continue; // not a workspace package
    links.push({
      path: name,
      target: relative(dirname(join(root, "node_modules", name)), real)
        .split(sep)
        .join("/"),
    });
    unlinkSync(p);
    if (existsSync(join(real, "node_modules"))) nested.push(`${rel.split(sep).join("/")}/node_modules`);
  }
  return { workspaceLinks: links, workspaceNodeModules: nested };
}

/**
 * Refuses a lockfile whose dependencies would be prepared from source (unless allowed), then writes into `work` the
 * allowed keys of each configuration file the package manager reads, reporting each key left out (npm_guard.js).
 */
function guardProject(work: string, project: Project, opts: InstallOptions): void {
  const lock = readFileSync(project.lockfilePath, "utf8");
  const problem = sourceProblem(
    project.manager,
    lock,
    project.lockfilePath,
    opts.allowScripts ?? [],
    "--allow-install-scripts",
  );
  if (problem) throw new PipelineError("E_BAD_INPUT", problem);
  for (const name of CONFIG_FILES[project.manager]) {
    const src = join(project.dir, name);
    let text: string;
    try {
      text = readFileSync(src, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new PipelineError("E_BAD_INPUT", `${src}: cannot read it (${(e as Error).message})`);
    }
    let kept: ReturnType<typeof filterConfig>;
    try {
      kept = filterConfig(name, text, src);
    } catch (e) {
      throw e instanceof GuardError ? new PipelineError("E_BAD_INPUT", e.message) : e;
    }
    for (const d of kept.dropped) opts.log?.(`warning: ${d.file}: ${d.key} ignored: ${d.why}`);
    if (kept.text) writeFileSync(join(work, name), kept.text, { mode: 0o600 });
  }
}

/** Installs `project`'s dependencies into `work`. */
export async function installDependencies(work: string, project: Project, opts: InstallOptions): Promise<Installed> {
  // The local packages `file:`/`link:`/`portal:` dependencies name (local-deps.ts) where they are in the project, and
  // the project's links to them and to workspace directories (each stays inside the project: project.ts).
  for (const l of project.installTree.links) {
    mkdirSync(dirname(join(work, l.rel)), { recursive: true });
    symlinkSync(l.target, join(work, l.rel));
  }
  for (const f of project.installTree.files) {
    mkdirSync(dirname(join(work, f.rel)), { recursive: true });
    writeFileSync(join(work, f.rel), f.bytes, { mode: f.mode });
  }
  for (const m of project.manifests) {
    if (CONFIG_NAMES.includes(m.rel)) continue; // guardProject writes what of it may be read
    mkdirSync(dirname(join(work, m.rel)), { recursive: true });
    copyFileSync(m.src, join(work, m.rel));
  }
  guardProject(work, project, opts);
  let nodeModules: string | undefined;
  if (project.manager === "npm") nodeModules = await npmCi(work, project, { env: opts.env, timeoutMs: opts.timeoutMs });
  else {
    copyFileSync(project.packageJsonPath, join(work, "package.json"));
    copyFileSync(project.lockfilePath, join(work, basename(project.lockfilePath)));
    await runManager(work, project, opts);
    nodeModules = existsSync(join(work, "node_modules")) ? join(work, "node_modules") : undefined;
  }
  if (!nodeModules) return { workspaceLinks: [], workspaceNodeModules: [] };
  return { nodeModules, ...takeWorkspaceLinks(work) };
}
