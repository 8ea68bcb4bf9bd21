/**
 * rules_js's packages in a launcher's runfiles, where Node runs with `--preserve-symlinks` (the runfiles tree is made
 * of symlinks into Bazel's output tree, and the app's own files must be found at their runfiles paths).
 *
 * rules_js lays npm packages out as pnpm does (https://pnpm.io/symlinked-node-modules-structure): a package's files
 * live in `node_modules/.aspect_rules_js/<name>@<version>/node_modules/<name>/`, and its dependencies beside it, as
 * relative symlinks in that same `node_modules/` (`…/<name>@<version>/node_modules/<dep>` →
 * `../../<dep>@<v>/node_modules/<dep>`); the top-level `node_modules/<name>` is a relative symlink into the store.
 * Under `--preserve-symlinks` Node keeps the path it found a package at (`node_modules/<name>/index.js`), so the
 * package's own `require("<dep>")` looks in `node_modules/<name>/node_modules` and up, never beside the package in the
 * store: every dependency of a rules_js package was missing (`Cannot find module`), and a dependency reached
 * through two dependents would have been loaded twice.
 *
 * The fix is pnpm's own rule, applied where it is safe: a module path found under a `node_modules/` directory has its
 * *relative* symlinks resolved (rules_js's links, which point within the tree they are in), and only those. Absolute
 * symlinks (the runfiles tree's own links into Bazel's output tree, or rules_pipeline's npm packages) are kept as they
 * are, so a path stays inside the runfiles tree and the app's own files keep their runfiles paths. Every module of a
 * rules_js package then has one path: its store path, from which its dependencies resolve as pnpm's layout intends.
 * Image layers need none of this: Node runs there without `--preserve-symlinks`, and the layer keeps rules_js's links as
 * symlinks (bazel/private/common/app_layout.bzl). An app tree without rules_js packages gets neither hook (rulesJsTree).
 *
 * ES modules: `import` (and `import()`, from a CommonJS module too) does not go through `Module._findPath`, so the
 * same rule comes from a resolve hook (`module.register`, installEsmPackageLinkResolution). Node 20 runs hooks on a
 * thread of their own, which costs a launch 70-150 ms here (the thread starts, and loads the `--require`d preload
 * again): only an app tree that holds rules_js packages pays it. A CommonJS entry pays it too: whether it will call
 * `import()` cannot be known at start, and without the hook an ESM-only package's dependencies are not found.
 */
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import Module from "node:module";
import { isAbsolute, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Symlinks followed per path before giving up (a loop among relative links): the path is then left as it was. */
const MAX_LINKS = 64;

/**
 * `path` with the relative symlinks among its components after the first `node_modules` resolved (lexically, one by
 * one, as the kernel would); absolute symlinks and everything before `node_modules` are kept. Returns `path` itself when
 * nothing was a relative link, a component is missing, or links loop. `cache` keeps the answers for paths and, under
 * keys starting with NUL (no path has one), what each component looked up is (its link's target, "" for none): the
 * modules of a package share their directories, so a module costs one lookup of its own.
 */
export function followPackageLinks(path: string, cache: Map<string, string> = new Map()): string {
  const start = path.indexOf(`${sep}node_modules${sep}`);
  if (start < 0 || !isAbsolute(path)) return path;
  const cached = cache.get(path);
  if (cached !== undefined) return cached;
  let done = path.slice(0, start);
  const todo = path.slice(start + 1).split(sep);
  let links = 0;
  let changed = false;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      done = done.slice(0, done.lastIndexOf(sep)) || sep;
      continue;
    }
    const next = join(done, part);
    let target = cache.get(`\0${next}`);
    if (target === undefined) {
      try {
        target = lstatSync(next).isSymbolicLink() ? readlinkSync(next) : "";
      } catch {
        cache.set(path, path);
        return path;
      }
      cache.set(`\0${next}`, target);
    }
    if (target === "" || isAbsolute(target)) {
      done = next;
      continue;
    }
    if (++links > MAX_LINKS) {
      cache.set(path, path);
      return path;
    }
    changed = true;
    todo.unshift(...target.split(sep));
  }
  const out = changed ? done : path;
  cache.set(path, out);
  return out;
}

type FindPath = (request: string, paths: readonly string[], isMain: boolean) => string | false;

/**
 * Makes `require` resolve rules_js's package links as described above, for the rest of the process, by wrapping
 * `Module._findPath` (every CommonJS resolution goes through it). Does nothing when Node does not preserve symlinks
 * (its own realpath then does the same), the app tree (`appRoot`, where the launchers start Node) holds no rules_js
 * packages (rulesJsTree: nothing to follow, and looking costs a launch of ~250 modules ~17 ms here), or Node has no
 * `Module._findPath` (a future Node: resolution stays as it is).
 */
export function installPackageLinkResolution(
  execArgv: readonly string[] = process.execArgv,
  appRoot: string = process.cwd(),
): void {
  if (!execArgv.includes("--preserve-symlinks") || !rulesJsTree(appRoot)) return;
  const original: unknown = Reflect.get(Module, "_findPath");
  if (typeof original !== "function") return;
  const cache = new Map<string, string>();
  const findPath: FindPath = function (this: unknown, request, paths, isMain) {
    const found: unknown = original.call(this, request, paths, isMain);
    return typeof found === "string" ? followPackageLinks(found, cache) : false;
  };
  Reflect.set(Module, "_findPath", findPath);
}

/** followPackageLinks for a resolved module URL (the ESM hook's answer): other schemes and unchanged paths as given. */
export function followPackageLinksUrl(url: string, cache: Map<string, string> = new Map()): string {
  if (!url.startsWith("file:")) return url;
  const path = fileURLToPath(url);
  const followed = followPackageLinks(path, cache);
  return followed === path ? url : pathToFileURL(followed).href;
}

/**
 * The resolve hook module (`module.register`): tiny, and it runs on the hooks thread, where Node has loaded the
 * `--require`d preload again. It takes followPackageLinksUrl from that module (`data.preload`, already in the thread's
 * require cache), so the rule is the same code for `require` and `import`.
 */
const HOOK_SOURCE = `import { createRequire } from "node:module";
let follow;
export function initialize(data) {
  const { followPackageLinksUrl } = createRequire(data.preload)(data.preload);
  const cache = new Map();
  follow = (url) => followPackageLinksUrl(url, cache);
}
export async function resolve(specifier, context, next) {
  const found = await next(specifier, context);
  const url = follow(found.url);
  return url === found.url ? found : { ...found, url };
}
`;

/** The directory of rules_js's package store in a `node_modules` tree (rules_js 1.x to 3.x). */
export const RULES_JS_STORE = ".aspect_rules_js";

/**
 * Whether the app tree at `appRoot` holds rules_js packages (`node_modules/.aspect_rules_js`): an app on
 * `npm_dependencies` packages only has no relative links to follow (its runfiles are absolute links, and
 * `node_modules/.bin`'s relative ones are not module paths).
 */
function rulesJsTree(appRoot: string): boolean {
  return existsSync(join(appRoot, "node_modules", RULES_JS_STORE));
}

/**
 * Makes `import` follow rules_js's package links as `require` does (installPackageLinkResolution), when Node preserves
 * symlinks and the app tree
 * (`appRoot`, where the launchers start Node) holds rules_js packages (`node_modules/.aspect_rules_js`: an app on
 * `npm_dependencies` packages only has no relative links to follow), from the main thread only (Node loads the
 * preload again on the hooks thread). `preload` is the path of the module that exports followPackageLinksUrl (the
 * launchers' preload, tools/preload.ts).
 */
export function installEsmPackageLinkResolution(
  preload: string,
  execArgv: readonly string[] = process.execArgv,
  appRoot: string = process.cwd(),
): void {
  if (!execArgv.includes("--preserve-symlinks")) return;
  // No rules_js packages in the app tree (the launchers start Node in it): no link to follow, no hooks thread to pay.
  if (!rulesJsTree(appRoot)) return;
  // Loaded here, not at the top: loading node:worker_threads costs every launch ~2 ms, a CommonJS one included.
  const threads: typeof import("node:worker_threads") = require("node:worker_threads");
  if (!threads.isMainThread) return;
  Module.register(`data:text/javascript,${encodeURIComponent(HOOK_SOURCE)}`, { data: { preload } });
}
