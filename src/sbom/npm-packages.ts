/**
 * The npm packages of an image, from the package.json files of its node_modules tree (name, version, license)
 * and the lockfile npm wrote beside that tree (integrity, resolved URL): `node_modules/.package-lock.json`, else
 * the project's `package-lock.json`. Only a package's own package.json counts (`node_modules/<name>/package.json`,
 * `node_modules/@scope/<name>/package.json`, nested trees alike), not those deeper inside a package.
 */
import { existsSync, readFileSync } from "node:fs";
import { PipelineError } from "../errors";
import type { NpmPackage } from "./spdx";

interface LockEntry {
  version?: string;
  integrity?: string;
  resolved?: string;
  license?: string;
}

const PACKAGE_JSON_RE = /(?:^|\/)(node_modules\/(?:.*\/node_modules\/)?((?:@[^/]+\/)?[^/@.][^/]*))\/package\.json$/;

/** `node_modules/...` install path and package name of a package's own package.json path, else undefined. */
export function packageJsonPath(path: string): { installPath: string; name: string } | undefined {
  const m = PACKAGE_JSON_RE.exec(path);
  if (!m) return undefined;
  const inner = m[1].slice(m[1].lastIndexOf("node_modules/") + "node_modules/".length);
  if (inner !== m[2]) return undefined; // a package.json inside a package (`node_modules/x/lib/package.json`)
  return { installPath: m[1], name: m[2] };
}

function readJson(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new PipelineError("E_BAD_INPUT", `${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new PipelineError("E_BAD_INPUT", `${what} ${path}: not a valid JSON object (${(e as Error).message})`);
  }
}

/** The lockfile's `packages` for the tree whose root directory is `root` ("" = the current directory), if any. */
function lockPackages(root: string, cache: Map<string, Record<string, LockEntry>>): Record<string, LockEntry> {
  let found = cache.get(root);
  if (found) return found;
  found = {};
  for (const name of ["node_modules/.package-lock.json", "package-lock.json"]) {
    const file = root + name;
    if (!existsSync(file)) continue;
    const lock = readJson(file, "npm lockfile");
    if (lock.packages && typeof lock.packages === "object") found = lock.packages as Record<string, LockEntry>;
    break;
  }
  cache.set(root, found);
  return found;
}

/** package.json `license`: a string, or the legacy `{type}` / `licenses: [{type}]` forms joined with OR. */
function licenseField(pkg: Record<string, unknown>): string | undefined {
  const one = (v: unknown): string | undefined =>
    typeof v === "string" ? v : v && typeof v === "object" && typeof (v as { type?: unknown }).type === "string" ? (v as { type: string }).type : undefined;
  const l = one(pkg.license);
  if (l) return l;
  if (Array.isArray(pkg.licenses)) {
    const all = pkg.licenses.map(one).filter((x): x is string => !!x);
    if (all.length) return all.length === 1 ? all[0] : `(${all.join(" OR ")})`;
  }
  return undefined;
}

/**
 * Packages from `files`: paths of package.json files (others are ignored). `where(file)` names the file in
 * errors (default: the file itself).
 */
export function npmPackages(files: string[]): NpmPackage[] {
  const cache = new Map<string, Record<string, LockEntry>>();
  const out: NpmPackage[] = [];
  for (const file of files) {
    const p = packageJsonPath(file);
    if (!p) continue;
    const root = file.slice(0, file.length - (p.installPath + "/package.json").length);
    const pkg = readJson(file, "npm package.json");
    const lock = lockPackages(root, cache)[p.installPath] ?? {};
    const name = typeof pkg.name === "string" && pkg.name ? pkg.name : p.name;
    const version = typeof pkg.version === "string" && pkg.version ? pkg.version : lock.version;
    if (!version) continue; // not a published package (a workspace link, a stub): nothing to name
    out.push({
      name,
      version,
      integrity: lock.version === undefined || lock.version === version ? lock.integrity : undefined,
      license: licenseField(pkg) ?? lock.license,
      resolved: lock.resolved,
    });
  }
  return out;
}
