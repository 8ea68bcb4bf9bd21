/**
 * The npm packages of an image, from the package.json files of its node_modules trees (name, version, license) and
 * the lockfiles given for those trees (integrity, resolved URL). A lockfile serves the tree beside it:
 * `DIR/package-lock.json` describes `DIR/node_modules/...`. Only a package's own package.json counts
 * (`node_modules/<name>/package.json`, `node_modules/@scope/<name>/package.json`, nested trees alike), not those
 * deeper inside a package.
 *
 * Nothing but the given files is read: no lockfile is looked for beside a tree. The image rule passes the lockfiles
 * of its `npm_dependencies` repositories as declared inputs of its action (`--sbom-lockfile`), so Bazel reruns the
 * action when one changes and any machine reads the same bytes; a tree without a lockfile gets no integrity or
 * resolved URL rather than whatever happens to lie beside it (npm's own `node_modules/.package-lock.json` depends
 * on the machine's npm configuration).
 */
import { PipelineError } from "../errors";
import { readJsonFile } from "../json-file";
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

/** Each lockfile's `packages`, by the root of the tree it serves (its directory: "" or `dir/`). */
function lockfilesByRoot(lockfiles: readonly string[]): Map<string, Record<string, LockEntry>> {
  const byRoot = new Map<string, Record<string, LockEntry>>();
  const from = new Map<string, string>();
  for (const file of lockfiles) {
    const root = file.slice(0, file.lastIndexOf("/") + 1);
    const other = from.get(root);
    if (other !== undefined && other !== file) {
      throw new PipelineError(
        "E_BAD_INPUT",
        `npm lockfiles ${other} and ${file}: two lockfiles for the node_modules tree in ${JSON.stringify(root || ".")}`,
      );
    }
    const lock = readJsonFile(file, "npm lockfile", { object: true });
    const packages =
      lock.packages && typeof lock.packages === "object" && !Array.isArray(lock.packages)
        ? (lock.packages as Record<string, LockEntry>)
        : {};
    byRoot.set(root, packages);
    from.set(root, file);
  }
  return byRoot;
}

/** package.json `license`: a string, or the legacy `{type}` / `licenses: [{type}]` forms joined with OR. */
function licenseField(pkg: Record<string, unknown>): string | undefined {
  const one = (v: unknown): string | undefined =>
    typeof v === "string"
      ? v
      : v && typeof v === "object" && typeof (v as { type?: unknown }).type === "string"
        ? (v as { type: string }).type
        : undefined;
  const l = one(pkg.license);
  if (l) return l;
  if (Array.isArray(pkg.licenses)) {
    const all = pkg.licenses.map(one).filter((x): x is string => !!x);
    if (all.length) return all.length === 1 ? all[0] : `(${all.join(" OR ")})`;
  }
  return undefined;
}

/**
 * Packages from `files`: paths of package.json files (others are ignored). `lockfiles`: the lockfiles of their
 * trees, each serving the node_modules tree in its directory; the only other files read.
 */
export function npmPackages(files: readonly string[], lockfiles: readonly string[] = []): NpmPackage[] {
  const locks = lockfilesByRoot(lockfiles);
  const out: NpmPackage[] = [];
  for (const file of files) {
    const p = packageJsonPath(file);
    if (!p) continue;
    const root = file.slice(0, file.length - (p.installPath + "/package.json").length);
    const pkg = readJsonFile(file, "npm package.json", { object: true });
    const lock = locks.get(root)?.[p.installPath] ?? {};
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
