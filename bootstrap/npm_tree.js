// @ts-check
"use strict";
/**
 * The installed tree, as npm_repo.bzl needs it after a package manager ran (npm, pnpm with node-linker=hoisted, yarn
 * with the node-modules linker). No dependencies: it runs before any npm package is installed.
 *
 *   node npm_tree.js LOCKFILE OUT
 *
 * 1. Workspace packages: a link in node_modules to a directory of the repository outside node_modules (npm and pnpm
 *    link `node_modules/@acme/lib` to `packages/lib`) is replaced by a copy of that directory, so that the package's
 *    target holds its files as any other package's does.
 * 2. Writes OUT (JSON): `{"packages": {"node_modules/a": {"version", "dependencies", "optionalDependencies",
 *    "peerDependencies", "integrity"?, "resolved"?, "workspace"?, "link"?}}}`: every installed package (nested trees too), from
 *    its own package.json; `integrity`/`resolved` from LOCKFILE when it is a pnpm-lock.yaml or a yarn classic
 *    yarn.lock (for the SBOM), `workspace` (its directory) for a workspace package, `link` for a link left in place.
 */
const fs = require("node:fs");
const path = require("node:path");

const [lockfile, out] = process.argv.slice(2);

/**
 * @typedef {{ integrity?: string, resolved?: string }} LockEntry
 * @typedef {{ version: string | undefined, dependencies: object, optionalDependencies: object, peerDependencies: object,
 *   integrity?: string, resolved?: string, workspace?: string, link?: boolean }} Package
 */
const root = fs.realpathSync.native(".");

/** Replaces each link to a workspace directory by a copy; returns {install path: workspace dir}. */
function materializeWorkspaces() {
  /** @type {Record<string, string>} */
  const found = {};
  const nm = "node_modules";
  if (!fs.existsSync(nm)) return found;
  /** @type {string[]} */
  const entries = [];
  for (const name of fs.readdirSync(nm)) {
    if (name.startsWith(".")) continue;
    if (name.startsWith("@") && fs.lstatSync(`${nm}/${name}`).isDirectory()) {
      for (const sub of fs.readdirSync(`${nm}/${name}`)) entries.push(`${nm}/${name}/${sub}`);
    } else entries.push(`${nm}/${name}`);
  }
  for (const p of entries) {
    if (!fs.lstatSync(p).isSymbolicLink()) continue;
    let real;
    try {
      real = fs.realpathSync.native(p); // the kernel's: fs.realpathSync reads a `..` after a link lexically
    } catch {
      continue; // dangling: left as it is
    }
    const rel = path.relative(root, real);
    if (rel.startsWith("..") || path.isAbsolute(rel) || rel.split(path.sep).includes("node_modules")) continue;
    fs.unlinkSync(p);
    fs.cpSync(real, p, { recursive: true, dereference: true });
    found[p] = rel.split(path.sep).join("/");
  }
  return found;
}

/** name@version -> {integrity, resolved} from a pnpm v9 or yarn classic lockfile (empty for others). */
function lockEntries(/** @type {string} */ text) {
  /** @type {Record<string, LockEntry>} */
  const map = {};
  if (/^lockfileVersion:/m.test(text)) {
    // pnpm: `  name@version:` then `    resolution: {integrity: sha512-..., tarball: ...}` under `packages:`.
    const section = text.slice(text.indexOf("\npackages:") + 1, text.indexOf("\nsnapshots:") + 1 || undefined);
    const re = /^ {2}'?((?:@[^@/\s]+\/)?[^@\s']+)@([^\s'(]+)'?:\n {4}resolution: \{([^}]*)\}/gm;
    for (const m of section.matchAll(re)) {
      const integrity = /integrity: ([^,\s}]+)/.exec(m[3])?.[1];
      const tarball = /tarball: ([^,\s}]+)/.exec(m[3])?.[1];
      map[`${m[1]}@${m[2]}`] = { integrity, resolved: tarball };
    }
  } else if (text.includes("# yarn lockfile v1")) {
    // yarn classic: `"a@^1", a@~1:` then indented `version "x"`, `resolved "url"`, `integrity sha512-...`.
    for (const block of text.split(/\n(?=\S)/)) {
      const head = block.split("\n")[0];
      const name = /^"?((?:@[^@/\s"]+\/)?[^@\s"]+)@/.exec(head)?.[1];
      const version = /\n {2}version "([^"]+)"/.exec(block)?.[1];
      if (!name || !version) continue;
      map[`${name}@${version}`] = {
        integrity: /\n {2}integrity (\S+)/.exec(block)?.[1],
        resolved: /\n {2}resolved "([^"]+)"/.exec(block)?.[1],
      };
    }
  }
  return map;
}

const workspaces = materializeWorkspaces();
const entries = lockEntries(fs.readFileSync(lockfile, "utf8"));
/** @type {Record<string, Package>} */
const packages = {};
/** @type {(o: unknown) => object} */
const pick = (o) => (o && typeof o === "object" && !Array.isArray(o) ? o : {});

/** Records every package under `dir` (a node_modules directory) and, recursively, their own node_modules. */
function walk(/** @type {string} */ dir) {
  let names;
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(".")) continue;
    const p = `${dir}/${name}`;
    if (name.startsWith("@")) {
      walk(p);
      continue;
    }
    let pkg;
    try {
      pkg = JSON.parse(fs.readFileSync(`${p}/package.json`, "utf8"));
    } catch {
      continue; // not a package
    }
    const lock = entries[`${pkg.name}@${pkg.version}`] ?? {};
    packages[p] = {
      version: typeof pkg.version === "string" ? pkg.version : undefined,
      dependencies: pick(pkg.dependencies),
      optionalDependencies: pick(pkg.optionalDependencies),
      peerDependencies: pick(pkg.peerDependencies),
      ...(lock.integrity ? { integrity: lock.integrity } : {}),
      ...(lock.resolved ? { resolved: lock.resolved } : {}),
      ...(workspaces[p] ? { workspace: workspaces[p] } : {}),
    };
    // A link left in place (to a directory outside the repository, `file:../x`): its own tree is not ours to list.
    if (fs.lstatSync(p).isSymbolicLink()) packages[p].link = true;
    else walk(`${p}/node_modules`);
  }
}
walk("node_modules");
fs.writeFileSync(out, JSON.stringify({ packages }));
