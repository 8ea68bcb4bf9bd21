/**
 * A lockfile project: a directory with package.json and a lockfile (package-lock.json or npm-shrinkwrap.json,
 * pnpm-lock.yaml, yarn.lock; package-managers.ts), possibly with workspaces. Reads and checks them, picks the entry
 * script and lists the files of the code layer.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import { PipelineError } from "../errors";
import { IgnoreRules } from "./ignore";
import { checkYarnrc, LOCKFILE_NAMES, type LockfileKind, lockfileManager, type PackageManager } from "./package-managers";

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
  /** Code layer files: project-relative path → absolute source path, sorted. */
  files: { rel: string; src: string }[];
}

function bad(message: string): PipelineError {
  return new PipelineError("E_BAD_INPUT", message);
}

function readOrFail(path: string, what: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw bad(`${what} ${path}: cannot read it (${code ?? (e as Error).message})`);
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

/** Files under `dir` not excluded by `rules`, following symlinks (a symlink loop is refused). */
export function listCodeFiles(dir: string, rules: IgnoreRules): { rel: string; src: string }[] {
  const out: { rel: string; src: string }[] = [];
  const walk = (abs: string, rel: string, ancestors: string[]) => {
    for (const name of readdirSync(abs).sort()) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const excluded = rules.excludes(childRel);
      if (excluded && !rules.hasNegations) continue;
      const src = join(abs, name);
      let st;
      try {
        st = statSync(src);
      } catch (e) {
        if (excluded) continue;
        throw bad(
          `--lockfile project: ${src} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); a dangling symlink? Exclude it in .dockerignore`,
        );
      }
      if (st.isDirectory()) {
        if (/^(node_modules|\.git)$/.test(name)) continue;
        const id = `${st.dev}:${st.ino}`;
        if (ancestors.includes(id)) throw bad(`--lockfile project: ${src} leads back to one of its parent directories (symlink loop)`);
        walk(src, childRel, [...ancestors, id]);
      } else if (st.isFile()) {
        if (!excluded) out.push({ rel: childRel, src });
      } else if (!excluded) {
        throw bad(`--lockfile project: ${src} is neither a file nor a directory (exclude it in .dockerignore)`);
      }
    }
  };
  const st = statSync(dir);
  walk(dir, "", [`${st.dev}:${st.ino}`]);
  return out;
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
  if (rawEntry === undefined) throw bad(`--lockfile ${dirArg}: no entry script: pass --entry FILE or set "main" in ${packageJsonPath}`);
  const entry = posix.normalize(rawEntry.replace(/^\.\//, ""));
  if (entry.startsWith("/") || entry === ".." || entry.startsWith("../") || !/\.(c|m)?js$/.test(entry)) {
    throw bad(`${entrySource}: expected a .js/.mjs/.cjs file inside the project, got ${JSON.stringify(rawEntry)}`);
  }
  const rules = IgnoreRules.fromProject(dir);
  const files = listCodeFiles(dir, rules);
  if (!files.some((f) => f.rel === entry)) {
    throw bad(
      `${entrySource}: entry script ${JSON.stringify(rawEntry)} is not among the project's files${rules.excludes(entry) ? " (.dockerignore or the built-in exclusions leave it out)" : ` (no ${join(dir, entry)})`}`,
    );
  }
  // The lockfile's `packages` (v2/v3): which entries have install scripts (install-scripts.ts).
  const packages: Record<string, { hasInstallScript?: unknown }> = {};
  if (lock.packages && typeof lock.packages === "object" && !Array.isArray(lock.packages)) {
    for (const [path, info] of Object.entries(lock.packages)) {
      packages[path] = info && typeof info === "object" ? { hasInstallScript: (info as { hasInstallScript?: unknown }).hasInstallScript } : {};
    }
  }
  const manifests = files.filter((f) => (f.rel.endsWith("/package.json") && f.rel !== "package.json") || f.rel === "pnpm-workspace.yaml");
  // A yarn berry project's .yarnrc.yml: Yarn reads it (registries, scopes, hoisting), once checked (checkYarnrc); the
  // code layer never holds it (ignore.ts: it may hold a registry token).
  const yarnrcPath = join(dir, ".yarnrc.yml");
  const yarnrc = manager === "yarn-berry" ? readOrFail(yarnrcPath, "--lockfile") : undefined;
  if (yarnrc) {
    checkYarnrc(yarnrc.toString("utf8"), yarnrcPath);
    manifests.unshift({ rel: ".yarnrc.yml", src: yarnrcPath });
  }
  if (pkg.workspaces !== undefined && !manifests.some((f) => f.rel.endsWith("/package.json"))) {
    throw bad(
      `${packageJsonPath}: "workspaces" ${JSON.stringify(pkg.workspaces).slice(0, 100)} but no workspace package.json among the project's files`,
    );
  }
  return { dir, packageJsonPath, packageJson, lockfilePath, lockfile, kind, manager, manifests, packages, entry, files };
}
