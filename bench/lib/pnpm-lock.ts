/**
 * The generated monorepo's npm tree as a pnpm v9 lockfile, for the rules_js side of P9 (bench/lib/monorepo-rules-js.ts):
 * the same packages at the same versions with the same integrity as its package-lock.json (v3), so that rules_js's
 * `npm_translate_lock` fetches exactly what `npm ci` installs for the other sides. pnpm itself cannot write it here (it
 * resolves against a registry, and the generated packages are `file:` tarballs on this machine), so this reads the
 * npm lockfile and writes pnpm's: `packages` (resolution, os/cpu), `snapshots` (each package's resolved dependencies,
 * found as Node resolves them from its install path) and the root importer.
 *
 * Tarballs: a `file:` resolution stays a `file:` tarball (rules_js downloads `file:/abs/path` URLs with Bazel's
 * downloader); a registry package keeps only its integrity, and rules_js builds its URL from the registry.
 * Scalars are written JSON-quoted (valid YAML; rules_js reads the file with yq).
 */
import { readFileSync, writeFileSync } from "node:fs";

interface NpmLockEntry {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  optional?: boolean;
  link?: boolean;
}

interface NpmLock {
  lockfileVersion: number;
  packages: Record<string, NpmLockEntry>;
}

const q = JSON.stringify;

/** The package name at a lockfile path ("node_modules/a/node_modules/@s/b" → "@s/b"). */
function nameAt(path: string): string {
  return path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
}

/** The lockfile path Node's resolution finds for `dep` required from the package at `from`, or undefined. */
function resolveFrom(packages: Record<string, NpmLockEntry>, from: string, dep: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${dep}` : `node_modules/${dep}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf("/node_modules/");
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
}

/** A flow mapping of quoted scalars (`{"a": "1"}`), or a block list value (`["x", "y"]`): JSON is valid YAML. */
const flow = (o: Record<string, string | string[]>) =>
  `{${Object.entries(o)
    .map(([k, v]) => `${q(k)}: ${q(v)}`)
    .join(", ")}}`;

/**
 * Converts the npm lockfile `lockfile` (v2/v3, `packages` keyed by install path) of the project whose package.json is
 * `packageJson` into a pnpm v9 lockfile at `out`. Throws naming the path when a dependency does not resolve.
 */
export function writePnpmLock(packageJson: string, lockfile: string, out: string): void {
  const lock = JSON.parse(readFileSync(lockfile, "utf8")) as NpmLock;
  if (lock.lockfileVersion < 2)
    throw new Error(
      `${lockfile}: lockfileVersion ${lock.lockfileVersion}: a v2 or v3 lockfile has the packages map this reads`,
    );
  const pkg = JSON.parse(readFileSync(packageJson, "utf8")) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const { packages } = lock;
  const keyOf = (path: string) => {
    const e = packages[path];
    if (!e.version) throw new Error(`${lockfile}: ${path} has no version`);
    return `${e.name ?? nameAt(path)}@${e.version}`;
  };
  const pkgs = new Map<string, string>();
  const snaps = new Map<string, string>();
  for (const [path, e] of Object.entries(packages)) {
    if (!path || e.link) continue;
    const key = keyOf(path);
    const resolution: Record<string, string> = {};
    if (!e.integrity) throw new Error(`${lockfile}: ${path} has no integrity`);
    resolution.integrity = e.integrity;
    if (e.resolved?.startsWith("file:")) resolution.tarball = e.resolved;
    const fields = [`    resolution: ${flow(resolution)}`];
    if (e.os) fields.push(`    os: ${q(e.os)}`);
    if (e.cpu) fields.push(`    cpu: ${q(e.cpu)}`);
    pkgs.set(key, `  ${q(key)}:\n${fields.join("\n")}\n`);
    const deps = (names: Record<string, string> | undefined, optional: boolean) => {
      const out: Record<string, string> = {};
      for (const d of Object.keys(names ?? {}).sort()) {
        const at = resolveFrom(packages, path, d);
        if (!at) {
          if (optional) continue;
          throw new Error(`${lockfile}: ${path} depends on ${d}, which no node_modules above it holds`);
        }
        out[d] = packages[at].version ?? "";
      }
      return out;
    };
    const snap: string[] = [];
    const required = deps(e.dependencies, false);
    const optional = deps(e.optionalDependencies, true);
    if (Object.keys(required).length) snap.push(`    dependencies: ${flow(required)}`);
    if (Object.keys(optional).length) snap.push(`    optionalDependencies: ${flow(optional)}`);
    if (e.optional) snap.push("    optional: true");
    snaps.set(key, snap.length ? `  ${q(key)}:\n${snap.join("\n")}\n` : `  ${q(key)}: {}\n`);
  }
  const importer = (field: "dependencies" | "devDependencies") => {
    const names = Object.keys(pkg[field] ?? {}).sort();
    if (!names.length) return "";
    const lines = names.map((n) => {
      const at = resolveFrom(packages, "", n);
      if (!at)
        throw new Error(`${lockfile}: the root's ${field} name ${n}, which is not installed at node_modules/${n}`);
      return `      ${q(n)}:\n        specifier: ${q(pkg[field]![n])}\n        version: ${q(packages[at].version ?? "")}\n`;
    });
    return `    ${field}:\n${lines.join("")}`;
  };
  const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  writeFileSync(
    out,
    [
      "lockfileVersion: '9.0'\n",
      "settings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n",
      `importers:\n  .:\n${importer("dependencies")}${importer("devDependencies")}`,
      `packages:\n${sorted(pkgs).join("\n")}`,
      `snapshots:\n${sorted(snaps).join("\n")}`,
    ].join("\n"),
  );
}
