/**
 * Dependencies on local directories and tarballs (`file:`, `link:`, `portal:`, `workspace:<path>`, npm's bare paths
 * `./x`, `../x`, `/x`, `~/x`) and workspace patterns of a `--lockfile` project: found in every package.json of the
 * project (the dependency maps, npm's `overrides`, yarn's `resolutions`, `pnpm.overrides`), in package.json's
 * `workspaces` and pnpm-workspace.yaml's `packages`, and in the lockfile (npm's link targets and `file:` tarballs;
 * the `file:`/`link:`/`portal:` paths of a pnpm or yarn lockfile).
 *
 * The package manager runs in a scratch directory in the cache (install.ts), where a path would resolve against the
 * scratch directory and lead anywhere on the host. So each path is resolved against the directory of the file that
 * names it, in the project, as the kernel resolves it (src/layer/kept-link.ts: the whole chain, relative or absolute),
 * and must stay inside the project: one that leaves is refused with E_BAD_INPUT naming the file, the dependency and
 * the spec. The packages inside are copied into the scratch directory at the same place (install.ts), so the package
 * manager finds them there as it would in the project, and their bytes are part of the node_modules cache key.
 */
import { posix } from "node:path";
import { PipelineError } from "../errors";
import { HostRoot } from "../layer/host-root";
import { absoluteUnder, judgeKeptLink } from "../layer/kept-link";

/** A package.json of the project: its project-relative path and its parsed content (undefined when not JSON). */
export interface Manifest {
  rel: string;
  json: Record<string, unknown> | undefined;
}

const DEPENDENCY_MAPS = ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"];

/** The local path a dependency spec names, or undefined when it names none (a registry range, a tag, git, a URL). */
export function localPath(spec: string): string | undefined {
  const proto = /^(file|link|portal|workspace):(.*)$/s.exec(spec);
  if (proto) {
    const rest = proto[2].replace(/::.*$/s, "").replace(/#.*$/s, ""); // yarn's ::locator=..., a fragment
    if (proto[1] === "workspace" && !/^[./~]/.test(rest)) return undefined; // workspace:*, workspace:^1.0.0
    return rest.startsWith("//") ? rest.replace(/^\/\/(localhost)?/, "") : rest; // file:///abs, file://localhost/abs
  }
  return /^(\.\.?(\/|$)|\/|~)/.test(spec) ? spec : undefined;
}

/** `s` with %XX escapes decoded (yarn's locators), or as it is when it has a malformed one. */
function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** [name, spec] of every string in a (possibly nested) overrides/resolutions object. */
function specsIn(v: unknown, name: string, out: [string, string][]): void {
  if (typeof v === "string") out.push([name, v]);
  else if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, sub] of Object.entries(v)) specsIn(sub, k === "." ? name : k, out);
  }
}

/** The dependencies a package.json declares, as [name, spec]. */
function declared(json: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const field of DEPENDENCY_MAPS) {
    const deps = json[field];
    if (deps && typeof deps === "object" && !Array.isArray(deps)) {
      for (const [name, spec] of Object.entries(deps)) if (typeof spec === "string") out.push([name, spec]);
    }
  }
  specsIn(json.overrides, "overrides", out);
  specsIn(json.resolutions, "resolutions", out);
  const pnpm = json.pnpm;
  if (pnpm && typeof pnpm === "object") specsIn((pnpm as Record<string, unknown>).overrides, "pnpm.overrides", out);
  return out;
}

/** The workspace patterns of package.json's `workspaces` (array or {packages}) and of pnpm-workspace.yaml. */
function workspacePatterns(root: Record<string, unknown> | undefined, pnpmWorkspace: string | undefined): string[] {
  const ws = root?.workspaces;
  const list = Array.isArray(ws)
    ? ws
    : ws && typeof ws === "object"
      ? (ws as { packages?: unknown }).packages
      : undefined;
  const out = Array.isArray(list) ? list.filter((p): p is string => typeof p === "string") : [];
  for (const m of (pnpmWorkspace ?? "").matchAll(/^\s*-\s*(['"]?)(.+?)\1\s*(#.*)?$/gm)) out.push(m[2]);
  return out;
}

export interface LocalDependencyInputs {
  /** The project's real path, and its path as given (an absolute target may name either). */
  root: string;
  dir: string;
  /** Every package.json of the project, the root's ("package.json") first. */
  manifests: Manifest[];
  pnpmWorkspace?: string;
  lockfileRel: string;
  lockfile: Buffer;
  /** The npm lockfile, parsed (an empty object for pnpm and yarn). */
  npmLock: Record<string, unknown>;
}

/**
 * Checks every local dependency and workspace pattern of the project (see above) and returns the project-relative
 * paths of the local packages the dependencies name (directories or tarballs), sorted.
 */
export function localDependencies(i: LocalDependencyInputs): string[] {
  const view = new HostRoot(i.root);
  const absolute = absoluteUnder(i.root, i.dir);
  const found = new Set<string>();
  /** Resolves `path` from the project-relative directory `from`; undefined (with `why`) when it leaves. */
  const resolve = (from: string, path: string): { parts?: string[]; why: string } => {
    if (path.startsWith("~")) return { why: "names a home directory, outside the project" };
    const at = [...(from === "" ? [] : from.split("/")), "\0"]; // a link in `from`, which no real entry can be
    const r = judgeKeptLink(view, at, path === "" ? "." : path, absolute, "the project");
    return r.ok ? { parts: r.parts, why: "" } : { why: r.why };
  };
  const refuse = (file: string, what: string, why: string) =>
    new PipelineError(
      "E_BAD_INPUT",
      `${posix.join(i.dir, file)}: ${what} ${why}; a local dependency must be inside the project (${i.dir}): the build installs elsewhere and takes nothing from outside the project`,
    );

  for (const m of i.manifests) {
    if (!m.json) continue;
    const from = posix.dirname(m.rel) === "." ? "" : posix.dirname(m.rel);
    for (const [name, spec] of declared(m.json)) {
      const path = localPath(spec);
      if (path === undefined) continue;
      const r = resolve(from, path);
      if (!r.parts) throw refuse(m.rel, `dependency ${JSON.stringify(name)}: ${JSON.stringify(spec)}`, r.why);
      if (r.parts.length) found.add(r.parts.join("/"));
    }
  }
  const rootJson = i.manifests.find((m) => m.rel === "package.json")?.json;
  for (const pattern of workspacePatterns(rootJson, i.pnpmWorkspace)) {
    const p = posix.normalize(pattern.replace(/^!/, ""));
    if (p.startsWith("/") || p.startsWith("~") || p === ".." || p.startsWith("../")) {
      const file =
        rootJson && JSON.stringify(rootJson.workspaces ?? "").includes(JSON.stringify(pattern))
          ? "package.json"
          : "pnpm-workspace.yaml";
      throw refuse(file, `workspace pattern ${JSON.stringify(pattern)}`, "leads outside the project");
    }
  }
  // npm's lockfile: paths relative to the project, as keys of `packages` (link and workspace targets) and as the
  // `resolved` of links and `file:` tarballs.
  const packages = i.npmLock.packages;
  if (packages && typeof packages === "object" && !Array.isArray(packages)) {
    for (const [key, info] of Object.entries(packages)) {
      const resolved = info && typeof info === "object" ? (info as { resolved?: unknown; link?: unknown }) : {};
      const paths: string[] = [];
      const base = key.split(/(?:^|\/)node_modules\//)[0]; // where a key's node_modules tree is: "" for the root's
      if (base !== "") paths.push(base);
      if (typeof resolved.resolved === "string" && (resolved.link === true || resolved.resolved.startsWith("file:"))) {
        const path = resolved.resolved.replace(/^file:/, "");
        // A tarball whose bytes the lockfile pins (`integrity`, which npm checks) may be anywhere: what is installed
        // is then the lockfile's, and tells nothing of the host (a host file with an unknown hash fails the check).
        const pinned =
          resolved.link !== true &&
          /\.(tgz|tar\.gz|tar)$/.test(path) &&
          /^sha(256|384|512)-/.test(String((info as { integrity?: unknown }).integrity));
        if (!pinned) paths.push(path);
      }
      for (const p of paths) {
        const r = resolve("", p);
        if (!r.parts) throw refuse(i.lockfileRel, `package ${JSON.stringify(key)}: ${JSON.stringify(p)}`, r.why);
      }
    }
  } else {
    // pnpm and yarn lockfiles name paths relative to the project or to the workspace that declares them: Yarn 4 says
    // which (`::locator=<name>@workspace:<dir>`); otherwise any workspace directory of the project may be the base.
    const workspaces = ["", ...i.manifests.map((m) => posix.dirname(m.rel)).filter((d) => d !== ".")];
    const token = /(?:file|link|portal):([^\s'",)}#]+?)(?:::locator=([^\s'",)}#]+))?(?=[\s'",)}#]|$)/gm;
    for (const m of i.lockfile.toString("utf8").matchAll(token)) {
      const spec = decoded(m[1]);
      if (/^[a-z+]+:\/\//.test(spec)) continue;
      const locator = m[2] === undefined ? undefined : /@workspace:(.*)$/.exec(decoded(m[2]))?.[1];
      const bases = locator === undefined ? workspaces : [locator === "." ? "" : locator];
      const results = bases.map((b) =>
        resolve(b, spec.startsWith("//") ? spec.replace(/^\/\/(localhost)?/, "") : spec),
      );
      if (!results.some((r) => r.parts)) throw refuse(i.lockfileRel, JSON.stringify(m[0]), results[0].why);
    }
  }
  return [...found].sort();
}
