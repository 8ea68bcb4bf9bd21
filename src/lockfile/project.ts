/**
 * A lockfile project: a directory with package.json and a lockfile (package-lock.json or npm-shrinkwrap.json,
 * pnpm-lock.yaml, yarn.lock; package-managers.ts), possibly with workspaces. Reads and checks them, picks the entry
 * script and lists the files of the code layer.
 */
import {
  closeSync,
  constants as fsc,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from "node:fs";
import { basename, join, posix, resolve } from "node:path";
import { PipelineError } from "../errors";
import { HostRoot, openFileInside } from "../layer/host-root";
import { absoluteUnder, judgeKeptLink } from "../layer/kept-link";
import { IgnoreRules } from "./ignore";
import { localDependencies } from "./local-deps";
import {
  checkYarnrc,
  LOCKFILE_NAMES,
  type LockfileKind,
  lockfileManager,
  type PackageManager,
} from "./package-managers";

export interface LockfileProject {
  dir: string;
  packageJsonPath: string;
  packageJson: Buffer;
  lockfilePath: string;
  lockfile: Buffer;
  kind: LockfileKind;
  manager: PackageManager;
  /**
   * What the package manager reads besides package.json and the lockfile, relative to the project: the workspace
   * packages' package.json files (every package.json of the project's files), pnpm-workspace.yaml and a yarn berry
   * project's .yarnrc.yml. Sorted.
   */
  manifests: { rel: string; src: string }[];
  /** The lockfile's `packages` by install path ("node_modules/a"), with what install-scripts.ts reads. */
  packages: Record<string, { hasInstallScript?: unknown }>;
  /** Entry script, relative to the project ("main.js", "dist/index.js"). */
  entry: string;
  /** Code layer files: project-relative path → absolute source path (under `root`), sorted. */
  files: { rel: string; src: string }[];
  /** The project's symlinks, kept as symlinks in the code layer (each stays inside the project: listProjectTree). */
  links: ProjectLink[];
  /** The project directory's real path: nothing of the code layer is read from outside it. */
  root: string;
  /**
   * What the package manager's scratch directory gets besides package.json, the lockfile and the manifests: the
   * files of the local packages the dependencies name (`file:`, `link:`, `portal:`: local-deps.ts; read once, without
   * following links: these bytes are installed and are part of the cache key), their links, and the project's links
   * that lead to a workspace or local package directory (not one named like a configuration file: `.pnpmfile.cjs`,
   * `.yarnrc`...). Sorted.
   */
  installTree: { files: { rel: string; bytes: Buffer; mode: number }[]; links: ProjectLink[] };
}

/** The files and links of the local packages at `rels` (directories or files), read from `root` without following links. */
function readLocalPackages(root: string, dir: string, rels: string[]): LockfileProject["installTree"] {
  const files: LockfileProject["installTree"]["files"] = [];
  const links: ProjectLink[] = [];
  const none = new IgnoreRules([], "(local packages)");
  const read = (rel: string, src: string) => {
    const fd = openFileInside(root, src);
    try {
      files.push({ rel, bytes: readFileSync(fd), mode: fstatSync(fd).mode & 0o111 ? 0o755 : 0o644 });
    } finally {
      closeSync(fd);
    }
  };
  for (const rel of rels) {
    const st = lstatSync(join(root, rel), { throwIfNoEntry: false });
    if (st?.isFile()) read(rel, join(root, rel));
    else if (st?.isDirectory()) {
      const t = listProjectTree(root, dir, none, rel);
      for (const f of t.files) read(f.rel, f.src);
      links.push(...t.links);
    }
  }
  return { files: files.sort((a, b) => (a.rel < b.rel ? -1 : 1)), links };
}

function bad(message: string): PipelineError {
  return new PipelineError("E_BAD_INPUT", message);
}

/** The bytes of the regular file `path` (a symlink is not followed: refused), or undefined when there is none. */
function readOrFail(path: string, what: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP")
      throw bad(
        `${what} ${path}: a symlink (${JSON.stringify(readlinkSync(path))}); it must be a regular file of the project`,
      );
    throw bad(`${what} ${path}: cannot read it (${code ?? (e as Error).message})`);
  }
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

function parseJsonObject(bytes: Buffer, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw bad(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** A symlink of the project kept as a symlink: its project-relative path, the target stored, where it resolves. */
export interface ProjectLink {
  rel: string;
  target: string;
  /** The project-relative path it resolves to (the whole chain followed; "" is the project itself). */
  to: string;
}

/**
 * The files under `root` (a real path) not excluded by `rules`, read without following any symlink: directories are
 * walked where they really are, regular files listed, and a symlink is kept as a symlink when, resolved as the kernel
 * resolves it (src/layer/kept-link.ts: the whole chain, relative or absolute), it stays inside the project at every
 * step (dangling inside is kept too); one that leads out is refused, naming it and its target. An absolute target
 * naming the project (`given` or `root`) is stored relative, as it resolves in the image's /app. `from`: where to
 * start (a project-relative directory; "" for the whole project).
 */
export function listProjectTree(
  root: string,
  given: string,
  rules: IgnoreRules,
  from = "",
): { files: { rel: string; src: string }[]; links: ProjectLink[] } {
  const files: { rel: string; src: string }[] = [];
  const links: ProjectLink[] = [];
  const view = new HostRoot(root);
  const absolute = absoluteUnder(root, given);
  const walk = (rel: string) => {
    const abs = rel === "" ? root : join(root, rel);
    for (const name of readdirSync(abs).sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const excluded = rules.excludes(childRel);
      if (excluded && !rules.hasNegations) continue;
      const src = join(abs, name);
      const st = lstatSync(src, { throwIfNoEntry: false });
      if (!st) continue; // gone since readdir
      if (st.isDirectory()) {
        if (!/^(node_modules|\.git)$/.test(name)) walk(childRel);
      } else if (excluded) {
      } else if (st.isFile()) {
        files.push({ rel: childRel, src });
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(src);
        const kept = judgeKeptLink(view, childRel.split("/"), target, absolute, "the project");
        if (!kept.ok) {
          throw bad(
            `--lockfile project: symlink ${childRel} -> ${JSON.stringify(target)} ${kept.why}; a build takes nothing from outside the project ${given} (copy what it needs in, or leave the link out in .dockerignore)`,
          );
        }
        const dir = childRel.split("/").slice(0, -1);
        const to = kept.parts.join("/");
        links.push({
          rel: childRel,
          target: target.startsWith("/") ? posix.relative(dir.join("/") || ".", to) || "." : target,
          to,
        });
      } else {
        throw bad(
          `--lockfile project: ${src} is neither a file, a directory nor a symlink (exclude it in .dockerignore)`,
        );
      }
    }
  };
  walk(from);
  return { files, links };
}

/** Reads the project at `dir`; `entry` (from --entry) overrides package.json's "main". */
export function readLockfileProject(dirArg: string, entryArg?: string): LockfileProject {
  const dir = resolve(dirArg);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw bad(`--lockfile ${dirArg}: no such directory`);
  }
  if (!st.isDirectory()) throw bad(`--lockfile ${dirArg}: not a directory`);
  const packageJsonPath = join(dir, "package.json");
  const packageJson = readOrFail(packageJsonPath, "--lockfile");
  if (!packageJson) throw bad(`--lockfile ${dirArg}: no package.json in ${dir}`);
  const pkg = parseJsonObject(packageJson, packageJsonPath);
  const found: { path: string; bytes: Buffer; kind: LockfileKind }[] = [];
  for (const [name, kind] of LOCKFILE_NAMES) {
    const path = join(dir, name);
    const bytes = readOrFail(path, "--lockfile");
    if (bytes && !found.some((f) => f.kind === kind)) found.push({ path, bytes, kind }); // npm-shrinkwrap.json wins, as in npm
  }
  if (found.length === 0) {
    throw bad(
      `--lockfile ${dirArg}: no lockfile in ${dir} (looked for ${LOCKFILE_NAMES.map(([n]) => n).join(", ")}); run \`npm install\`, \`pnpm install\` or \`yarn install\` there to create one`,
    );
  }
  if (found.length > 1) {
    throw bad(
      `--lockfile ${dirArg}: more than one package manager's lockfile (${found.map((f) => f.path).join(", ")}); keep the one you install with`,
    );
  }
  const { path: lockfilePath, bytes: lockfile, kind } = found[0];
  const manager = lockfileManager(kind, lockfile.toString("utf8"), lockfilePath);
  const lock = kind === "npm" ? parseJsonObject(lockfile, lockfilePath) : {};

  const main = typeof pkg.main === "string" && pkg.main !== "" ? pkg.main : undefined;
  const rawEntry = entryArg ?? main;
  const entrySource = entryArg !== undefined ? "--entry" : `${packageJsonPath} "main"`;
  if (rawEntry === undefined)
    throw bad(`--lockfile ${dirArg}: no entry script: pass --entry FILE or set "main" in ${packageJsonPath}`);
  const entry = posix.normalize(rawEntry.replace(/^\.\//, ""));
  if (entry.startsWith("/") || entry === ".." || entry.startsWith("../") || !/\.(c|m)?js$/.test(entry)) {
    throw bad(`${entrySource}: expected a .js/.mjs/.cjs file inside the project, got ${JSON.stringify(rawEntry)}`);
  }
  const rules = IgnoreRules.fromProject(dir);
  const root = realpathSync.native(dir);
  const { files, links } = listProjectTree(root, dir, rules);
  if (!files.some((f) => f.rel === entry) && !links.some((l) => l.rel === entry)) {
    throw bad(
      `${entrySource}: entry script ${JSON.stringify(rawEntry)} is not among the project's files${rules.excludes(entry) ? " (.dockerignore or the built-in exclusions leave it out)" : ` (no ${join(dir, entry)})`}`,
    );
  }
  // The lockfile's `packages` (v2/v3): which entries have install scripts (install-scripts.ts).
  const packages: Record<string, { hasInstallScript?: unknown }> = {};
  if (lock.packages && typeof lock.packages === "object" && !Array.isArray(lock.packages)) {
    for (const [path, info] of Object.entries(lock.packages)) {
      packages[path] =
        info && typeof info === "object"
          ? { hasInstallScript: (info as { hasInstallScript?: unknown }).hasInstallScript }
          : {};
    }
  }
  const manifests = files.filter(
    (f) => (f.rel.endsWith("/package.json") && f.rel !== "package.json") || f.rel === "pnpm-workspace.yaml",
  );
  // A yarn berry project's .yarnrc.yml: Yarn reads it (registries, scopes, hoisting), once checked (checkYarnrc); the
  // code layer never holds it (ignore.ts: it may hold a registry token).
  const yarnrcPath = join(dir, ".yarnrc.yml");
  const yarnrc = manager === "yarn-berry" ? readOrFail(yarnrcPath, "--lockfile") : undefined;
  if (yarnrc) {
    checkYarnrc(yarnrc.toString("utf8"), yarnrcPath);
    manifests.unshift({ rel: ".yarnrc.yml", src: yarnrcPath });
  }
  const locals = localDependencies({
    root,
    dir,
    manifests: [
      { rel: "package.json", json: pkg },
      ...files
        .filter((f) => f.rel.endsWith("/package.json"))
        .map((f) => ({ rel: f.rel, json: jsonOrUndefined(f.src) })),
    ],
    pnpmWorkspace: files.some((f) => f.rel === "pnpm-workspace.yaml")
      ? readFileSync(join(root, "pnpm-workspace.yaml"), "utf8")
      : undefined,
    lockfileRel: basename(lockfilePath),
    lockfile,
    npmLock: lock,
  });
  if (pkg.workspaces !== undefined && !manifests.some((f) => f.rel.endsWith("/package.json"))) {
    throw bad(
      `${packageJsonPath}: "workspaces" ${JSON.stringify(pkg.workspaces).slice(0, 100)} but no workspace package.json among the project's files`,
    );
  }
  const local = readLocalPackages(root, dir, locals);
  const needed = [...locals, ...files.filter((f) => f.rel.endsWith("/package.json")).map((f) => posix.dirname(f.rel))];
  const toPackages = links.filter(
    (l) => !/^\.[^/]*$/.test(l.rel) && needed.some((d) => d === l.to || d.startsWith(`${l.to}/`)),
  );
  const byRel = new Map([...toPackages, ...local.links].map((l) => [l.rel, l]));
  const installTree = { files: local.files, links: [...byRel.values()].sort((a, b) => (a.rel < b.rel ? -1 : 1)) };
  return {
    dir,
    root,
    packageJsonPath,
    packageJson,
    lockfilePath,
    lockfile,
    kind,
    manager,
    manifests,
    packages,
    entry,
    files,
    links,
    installTree,
  };
}

/** A workspace package.json's content, or undefined when it is not a JSON object (the package manager says why). */
function jsonOrUndefined(src: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(src, "utf8"));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
