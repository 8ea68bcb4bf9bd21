/**
 * Install scripts in a `--lockfile` build, with the policy `npm_dependencies` has in Bazel
 * (bazel/private/npm/npm_repo.bzl): `npm ci --ignore-scripts` never runs them; a package that has them (a
 * `preinstall`/`install`/`postinstall` script, a `binding.gyp`, or `hasInstallScript` in the lockfile) fails the
 * build naming it unless it is allowed (rebuilt offline with `npm rebuild NAMES --offline`, node-gyp compiling
 * from source; only `build/Release/*.node` is kept of its build directory), ignored (installed, scripts never
 * run), or one of the packages whose scripts are known not to be needed. Before this, a native addon ended up
 * uncompiled in the image without a word.
 */
import { promises as fsp, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { redactNpmOutput, runNpm, tail } from "./npm";

/** Known not to need their scripts (banners, or a binary npm already installed): the same list as npm_repo.bzl's. */
export const HARMLESS_INSTALL_SCRIPTS: readonly string[] = ["core-js", "core-js-pure", "es5-ext", "esbuild"];

export interface InstallScriptPolicy {
  /** Rebuilt offline after npm ci (native addons). */
  allow: readonly string[];
  /** Installed, their scripts never run. */
  ignore: readonly string[];
}

/** Where a package with install scripts is installed, and what would have run. */
export interface ScriptedPackage {
  name: string;
  path: string;
  why: string;
}

/** `node_modules/a/node_modules/@scope/b` → `@scope/b`. */
export function packageName(lockPath: string): string {
  return lockPath.slice(lockPath.lastIndexOf("node_modules/") + "node_modules/".length);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** What would run code when npm installs the package at `dir` ("" when nothing would). */
function installScripts(dir: string, hasInstallScript: boolean): string {
  let scripts: unknown;
  try {
    scripts = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).scripts;
  } catch {
    scripts = undefined; // no or unreadable package.json: npm would not run its scripts either
  }
  if (scripts && typeof scripts === "object") {
    const found = (["preinstall", "install", "postinstall"] as const)
      .filter((k) => k in scripts)
      .map((k) => `${k} script ${JSON.stringify((scripts as Record<string, unknown>)[k])}`);
    if (found.length) return found.join(", ");
  }
  if (isFile(join(dir, "binding.gyp"))) return "a binding.gyp (npm runs `node-gyp rebuild`)";
  return hasInstallScript ? "`hasInstallScript` in the lockfile" : "";
}

/**
 * The packages installed under `root/node_modules` (nested trees too) as lockfile-style install paths, for the
 * package managers whose lockfile has no such map (pnpm, yarn): every directory holding a package.json at a
 * package's place. Links are not followed (workspace links are taken out before this runs).
 */
export function installedPackages(root: string): Record<string, { hasInstallScript?: unknown }> {
  const out: Record<string, { hasInstallScript?: unknown }> = {};
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const p = `${rel}/${name}`;
      if (name.startsWith("@")) {
        walk(p);
        continue;
      }
      if (lstatSync(join(root, p)).isSymbolicLink() || !isFile(join(root, p, "package.json"))) continue;
      out[p.slice(p.indexOf("node_modules/"))] = {};
      walk(`${p}/node_modules`);
    }
  };
  walk("node_modules");
  return out;
}

/** The packages npm installed under `root` (the lockfile's `packages` entries present there), and which have install scripts. */
export function scriptedPackages(
  root: string,
  lockPackages: Record<string, { hasInstallScript?: unknown }>,
): { installed: Set<string>; scripted: ScriptedPackage[] } {
  const installed = new Set<string>();
  const scripted: ScriptedPackage[] = [];
  for (const [path, info] of Object.entries(lockPackages)) {
    if (!path.startsWith("node_modules/")) continue; // the root project and workspace folders
    const dir = join(root, path);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue; // not installed here: another platform's optional package, or --omit=dev
    }
    const name = packageName(path);
    installed.add(name);
    const why = installScripts(dir, info?.hasInstallScript === true);
    if (why) scripted.push({ name, path: dir, why });
  }
  scripted.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { installed, scripted };
}

/** Fails on a policy entry that is not a package, on an entry in both lists, or on an unlisted scripted package. */
export function checkInstallScripts(
  scripted: ScriptedPackage[],
  installed: ReadonlySet<string>,
  policy: InstallScriptPolicy,
  lockfile: string,
): void {
  for (const [flag, listed] of [
    ["--allow-install-scripts", policy.allow],
    ["--ignore-install-scripts", policy.ignore],
  ] as const) {
    for (const n of listed) {
      if (!installed.has(n))
        throw new PipelineError(
          "E_INSTALL_SCRIPTS",
          `${flag} ${JSON.stringify(n)}: not a package ${lockfile} installs`,
        );
    }
  }
  const both = policy.ignore.filter((n) => policy.allow.includes(n));
  if (both.length)
    throw new PipelineError(
      "E_INSTALL_SCRIPTS",
      `${JSON.stringify(both[0])} is in both --allow-install-scripts and --ignore-install-scripts; keep one`,
    );
  const accepted = new Set([...policy.allow, ...policy.ignore, ...HARMLESS_INSTALL_SCRIPTS]);
  const unlisted = new Map<string, ScriptedPackage>();
  for (const s of scripted) if (!accepted.has(s.name) && !unlisted.has(s.name)) unlisted.set(s.name, s);
  if (!unlisted.size) return;
  const names = [...unlisted.keys()];
  const one = names.length === 1;
  throw new PipelineError(
    "E_INSTALL_SCRIPTS",
    [
      `${one ? "package" : "packages"} of ${lockfile} ${one ? "has" : "have"} install scripts, which a --lockfile build does not run unless told to:`,
      ...[...unlisted.values()].map((s) => `  ${s.name} (${s.why})`),
      `Add --allow-install-scripts ${names.join(" --allow-install-scripts ")} to run them (native addons: node-gyp builds them ` +
        `from source, offline; see docs/npm.md, "Native addons"), or --ignore-install-scripts for each to install ${one ? "it" : "them"} without running them.`,
    ].join("\n"),
  );
}

/** Keeps `build/Release/*.node` of a rebuilt package's build directory; drops object files, Makefiles and links. */
async function pruneBuild(pkgDir: string): Promise<void> {
  const build = join(pkgDir, "build");
  const walk = async (dir: string, rel: string): Promise<boolean> => {
    let empty = true;
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (await walk(path, r)) await fsp.rmdir(path);
        else empty = false;
      } else if (e.isFile() && /^Release\/[^/]+\.node$/.test(r)) empty = false;
      else await fsp.unlink(path); // links too, never followed
    }
    return empty;
  };
  const st = await fsp.lstat(build).catch(() => undefined);
  if (st?.isDirectory()) await walk(build, "");
}

/** `npm rebuild NAMES --offline` in the directory npm ci installed into, prebuilt downloads off; then prunes. */
export async function runInstallScripts(
  workDir: string,
  npm: string[],
  scripted: ScriptedPackage[],
  allow: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 3_600_000,
): Promise<string[]> {
  const names = allow.filter((n) => scripted.some((s) => s.name === n));
  if (!names.length) return [];
  const args = [
    "rebuild",
    ...names,
    "--offline",
    "--foreground-scripts",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
  ];
  // prebuild-install and node-pre-gyp would try to download a prebuilt binary first: go straight to node-gyp.
  const childEnv = { ...env, npm_config_build_from_source: "true", npm_config_update_notifier: "false" };
  // Bounded: a compiler can print a lot.
  const result = await runNpm(npm, args, { cwd: workDir, env: childEnv, timeoutMs, keep: 16_000 });
  if (result.code !== 0) {
    throw new PipelineError(
      "E_NPM",
      `--allow-install-scripts: \`npm rebuild ${names.join(" ")} --offline\` failed (exit ${result.code}). Building native addons needs ` +
        `python3, make, a C++ compiler and Node's headers (npm's \`nodedir\` config, e.g. \`npm config set nodedir /usr\` with ` +
        `/usr/include/node present):\n${tail(redactNpmOutput(result.out), 20)}`,
    );
  }
  for (const s of scripted) if (names.includes(s.name)) await pruneBuild(s.path);
  return names;
}
