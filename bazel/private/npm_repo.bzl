"""Repository rule installing npm packages from a package.json and its lockfile (npm, pnpm or yarn)."""

load(":package_managers.bzl", "LOCKFILE_NAMES", "PACKAGE_MANAGERS", "lockfile_kind", "lockfile_manager")
load(":repo_cache.bzl", "REPO_CACHE_ENVIRON", "repo_cache", "repo_cache_dir", "repo_cache_restore", "repo_cache_store")

# Packages whose install scripts need not run, accepted silently: esbuild's postinstall only checks the binary its
# optional platform package already carries; the others print a banner or probe the environment.
HARMLESS_INSTALL_SCRIPTS = ["core-js", "core-js-pure", "es5-ext", "esbuild"]

_DOC = """Installs the packages of a lockfile with the package manager that wrote it, scripts off.

The lockfile's file name says which (package_managers.bzl):
- `package-lock.json` / `npm-shrinkwrap.json` (lockfileVersion 2 or 3): `npm ci --ignore-scripts`, the npm on PATH.
- `pnpm-lock.yaml` (lockfileVersion '9.0'): the real pnpm (9.15.9, the npm registry's tarball checked against its
  integrity) runs `pnpm install --frozen-lockfile --ignore-scripts --config.node-linker=hoisted`. Why hoisted: it
  makes the flat `node_modules` npm makes (each package a real directory at `node_modules/<name>`, conflicting
  versions nested), which is the tree a developer's `node` resolves in and what the targets below, the layers and
  the image's `/app/node_modules` are made of; pnpm's default isolated layout (symlinks into `node_modules/.pnpm`) would
  need each package's target to carry its symlinked neighbours and would put symlink chains into images.
- `yarn.lock`: classic v1 with yarn 1.22.22 (`yarn install --frozen-lockfile --ignore-scripts`), berry (`__metadata`
  version 8) with Yarn 4.9.2 (`@yarnpkg/cli-dist`, `yarn install --immutable --mode=skip-build` and
  `nodeLinker: node-modules`), each the npm registry's tarball checked against its integrity.
Any other lockfile name or version fails the fetch naming the file and the version found.

Workspaces (npm `"workspaces"`, `pnpm-workspace.yaml`, yarn `workspaces`): list the workspace packages' files in
`workspace_files`; the link the package manager makes to each (`node_modules/@acme/lib` -> `packages/lib`) is replaced
by a copy, so a workspace package is a target like any other.

Targets in the generated repository:
- `@<name>//:node_modules`: every installed package.
- `@<name>//:node_modules/<package>` (e.g. `@npm//:node_modules/lodash`, `@npm//:node_modules/@types/node`):
  one top-level package and everything it depends on (its transitive closure from the lockfile).

Files keep their `node_modules/...` path, which is how `pipeline` places them at `/app/node_modules` in the
image and in the runfiles of `_local`/`_binary`.

The repository keeps a copy of `lockfile` as `package-lock.json` beside its `node_modules`; each package target
carries it in `NpmPackageInfo.lockfiles`, so that the image action (and only it: not compiling, not the layers)
has it as a declared input for the SBOM's integrity and resolved URLs. The SBOM thus says what the lockfile says,
not what the machine's npm wrote into `node_modules/.package-lock.json` (which depends on its npm configuration,
e.g. `omit-lockfile-registry-resolved`).

Install scripts (native addons): `npm ci` never runs them. The packages listed in `allow_install_scripts` are then
rebuilt with `npm rebuild <names> --offline`, which runs their install scripts (node-gyp compiles the addon from
source against the Node in use, with the headers of npm's `nodedir` config); of their `build/` directory only the
built `build/Release/*.node` files are kept. Any other package with install scripts (`hasInstallScript` in the
lockfile, a `preinstall`/`install`/`postinstall` script, or a `binding.gyp`) fails the fetch with an error naming it,
unless it is listed in `ignore_install_scripts` or is one of the known-harmless """ + ", ".join(HARMLESS_INSTALL_SCRIPTS) + """.
"""

_EXCLUDES = [
    "node_modules/.bin/**",
    "node_modules/.package-lock.json",
    "node_modules/**/.bin/**",
    # pnpm's and yarn's own state files (node-linker=hoisted, nodeLinker: node-modules): not packages.
    "node_modules/.modules.yaml",
    "node_modules/.pnpm/**",
    "node_modules/.yarn-integrity",
    "node_modules/.yarn-state.yml",
]

def _dep_path(packages, from_path, name):
    """Where node's resolution finds `name` when required from the package at `from_path`."""
    base = from_path
    for _ in range(64):
        candidate = (base + "/node_modules/" + name) if base else ("node_modules/" + name)
        if candidate in packages:
            return candidate
        if not base:
            return None
        idx = base.rfind("/node_modules/")
        base = base[:idx] if idx >= 0 else ""
    return None

def _closure(packages, root):
    seen = {root: True}
    queue = [root]
    for _ in range(len(packages) + 1):
        if not queue:
            break
        cur = queue.pop()
        info = packages.get(cur, {})
        names = {}
        for field in ("dependencies", "optionalDependencies", "peerDependencies"):
            for n in info.get(field, {}).keys():
                names[n] = True
        for n in names.keys():
            p = _dep_path(packages, cur, n)
            if p != None and p not in seen:
                seen[p] = True
                queue.append(p)
    return sorted(seen.keys())

def _absolute(label):
    """A label string that means the same repository from inside another one (the main one is `@//`)."""
    s = str(label)
    return "@" + s if s.startswith("//") else s

_NPM_PACKAGE_BZL = _absolute(Label("//bazel/private:npm_package.bzl"))
_NPM_GLOBS = Label("//bazel/private:npm_globs.js")
_NPM_TREE = Label("//bazel/private:npm_tree.js")

# Where a package's declarations may be, when it ships any.
_TYPES_PATTERNS = ["**/package.json", "**/*.d.ts", "**/*.d.mts", "**/*.d.cts"]

def _type_surface(rctx, path):
    """What tsc reads of the installed package at `path`.

    Its package.json files and declarations, plus, when it
    ships no declarations (a heuristic that errs towards "none"), the JavaScript file it resolves to, so that an
    untyped import still resolves (to `any`) without making every file of the package an input."""
    patterns = [path + "/" + t for t in _TYPES_PATTERNS]
    if rctx.path(path + "/index.d.ts").exists:
        return patterns
    pkg = rctx.path(path + "/package.json")
    if not pkg.exists:
        return [path + "/**"]
    text = rctx.read(pkg)
    if '"types"' in text or '"typings"' in text:
        return patterns
    main = json.decode(text).get("main", "index.js") if text.strip().startswith("{") else "index.js"
    if type(main) != type("") or not main or ".." in main or main.startswith("/"):
        main = "index.js"
    main = main[2:] if main.startswith("./") else main
    main = main[:-1] if main.endswith("/") else main

    # Patterns that match nothing (or a directory) add nothing.
    return patterns + [path + "/" + c for c in [main, main + ".js", main + "/index.js", "index.js"]]

def _bin_links(rctx, installed):
    """`node_modules/.bin` as npm made it: package path -> {command: target relative to node_modules}."""
    out = {}
    bin_dir = rctx.path("node_modules/.bin")
    if not bin_dir.exists:
        return out
    root = str(rctx.path("node_modules").realpath) + "/"
    for link in bin_dir.readdir():
        target = str(link.realpath)
        if not target.startswith(root):
            continue
        rel = target[len(root):]

        # The package that owns the target: the longest installed package path that is a prefix of it.
        owner = None
        for p in installed.keys():
            if ("node_modules/" + rel).startswith(p + "/") and (owner == None or len(p) > len(owner)):
                owner = p
        if owner != None:
            out.setdefault(owner, {})[link.basename] = rel
    return out

# The repository's copy of the lockfile, beside node_modules: what the package targets name in `lockfile`.
_LOCKFILE = "package-lock.json"

def _package_target(name, closure, typed, bins, repo_name, patterns, srcs = None):
    """An npm_package target.

    Every file of `closure` (package paths) or `srcs` patterns, their type surface, the
    `node_modules/.bin` commands of the packages in `closure`, the lockfile (for the SBOM) and the name users write
    for the repository (for hints). The files are named, not globbed: `GLOBS` (npm_globs.bzl, written by
    npm_globs.js) holds what each pattern matched at fetch time, and every pattern used is added to `patterns`."""
    bin_links = {}
    for p in closure:
        bin_links.update(bins.get(p, {}))
    srcs = srcs or [p + "/**" for p in closure]
    types = []
    for p in closure:
        types.extend(typed[p])
    for pattern in srcs + types:
        patterns[pattern] = True
    return [
        "npm_package(",
        "    name = {},".format(repr(name)),
        "    srcs = npm_files(GLOBS, {}),".format(repr(srcs)),
        "    types = npm_files(GLOBS, {}),".format(repr(types)),
        "    bin_links = {},".format(repr({k: bin_links[k] for k in sorted(bin_links.keys())})),
        "    lockfile = {},".format(repr(":" + _LOCKFILE)),
        "    repo_name = {},".format(repr(repo_name)),
        ")",
        "",
    ]

# What npm_globs.js writes beside BUILD.bazel: each pattern -> the files it matches. Two Bazel quirks shape it:
# - Named, not globbed: a glob() over node_modules makes Bazel keep a listing of every directory of the tree and check
#   each one again before every build (a warm no-op build's file check on the bench's monorepo: 125-131 ms with
#   globs, 72-80 ms with the files named; commit 065ee34). test/e2e/bazel-npm-globs.test.ts checks the lists equal
#   Bazel 4.2.3's own glob().
# - Written by npm_globs.js itself, never read back with rctx.read and written with rctx.file: Bazel 4.2.3 writes a
#   string read that way UTF-8-encoded a second time (a file named ü.js became Ã¼.js in the BUILD file, a missing
#   input; commit 97dd2fb). The names keep the file system's bytes, which Bazel reads as Latin-1, as it reads file
#   names. The repository cache entry holds npm_globs.bzl beside BUILD.bazel.
_GLOBS_BZL = "npm_globs.bzl"

def _write_globs(rctx, node, patterns):
    """Writes `_GLOBS_BZL`: each pattern -> the files glob(pattern, exclude = _EXCLUDES) would give."""
    spec = ".npm_globs.json"
    rctx.file(spec, json.encode({"patterns": patterns, "excludes": _EXCLUDES}))
    result = rctx.execute([node, rctx.path(_NPM_GLOBS), spec, _GLOBS_BZL], quiet = True, timeout = 600)
    if result.return_code != 0:
        fail("npm_dependencies(name = {}): listing the files of node_modules failed (exit {}): {}{}".format(
            repr(rctx.attr.name),
            result.return_code,
            result.stdout,
            result.stderr,
        ))
    rctx.delete(spec)

def _package_name(path):
    """`node_modules/a/node_modules/@scope/b` -> `@scope/b`."""
    return path[path.rfind("node_modules/") + len("node_modules/"):]

def _install_scripts(rctx, path, info):
    """What would run code when npm installs the package at `path` ("" when nothing does)."""
    found = []
    pkg = rctx.path(path + "/package.json")
    if pkg.exists:
        text = rctx.read(pkg)
        scripts = json.decode(text).get("scripts", {}) if text.strip().startswith("{") else {}
        if type(scripts) == type({}):
            found = ["{} script {}".format(k, repr(scripts[k])) for k in ("preinstall", "install", "postinstall") if k in scripts]
    if not found and rctx.path(path + "/binding.gyp").exists:
        found = ["a binding.gyp (npm runs `node-gyp rebuild`)"]
    if not found and info.get("hasInstallScript", False):
        found = ["`hasInstallScript` in the lockfile"]
    return ", ".join(found)

def _check_install_scripts(rctx, packages, scripted):
    """Fails on a bad `allow_install_scripts`/`ignore_install_scripts` entry or an unlisted package with install scripts."""
    where = "npm_dependencies(name = {})".format(repr(rctx.attr.name))
    names = {_package_name(p): True for p in packages.keys()}
    allow = rctx.attr.allow_install_scripts
    for attr_name, listed in (("allow_install_scripts", allow), ("ignore_install_scripts", rctx.attr.ignore_install_scripts)):
        for n in listed:
            if n not in names:
                fail("{}: `{}` entry {} is not a package of {}".format(where, attr_name, repr(n), str(rctx.attr.lockfile)))
            if attr_name == "ignore_install_scripts" and n in allow:
                fail("{}: {} is in both `allow_install_scripts` and `ignore_install_scripts`; keep one".format(where, repr(n)))
    accepted = {n: True for n in allow + rctx.attr.ignore_install_scripts + HARMLESS_INSTALL_SCRIPTS}
    unlisted = [n for n in sorted(scripted.keys()) if n not in accepted]
    if unlisted:
        fail("\n".join(["{}: {} of {} {} install scripts, which npm_dependencies does not run unless told to:".format(
            where,
            "package" if len(unlisted) == 1 else "packages",
            str(rctx.attr.lockfile),
            "has" if len(unlisted) == 1 else "have",
        )] + ["  {} ({}: {})".format(n, scripted[n][0][0], scripted[n][0][1]) for n in unlisted] + [
            "Add {} to `allow_install_scripts` to run them at fetch time (native addons: node-gyp builds them from source; see README, \"Native addons\"), or to `ignore_install_scripts` to install {} without running them.".format(
                ", ".join([repr(n) for n in unlisted]),
                "it" if len(unlisted) == 1 else "them",
            ),
        ]))

# Of a rebuilt package's build/ directory, keep the addons (build/Release/*.node) and drop the byproducts (object
# files, Makefiles, node-gyp's symlink to python3).
_PRUNE_BUILD = """cd "$1" && find build -mindepth 1 ! -type d | while IFS= read -r f; do
  case "$f" in build/Release/*/*) rm -f "$f" ;; build/Release/*.node) ;; *) rm -f "$f" ;; esac
done && find build -depth -mindepth 1 -type d -empty -delete"""

def _run_install_scripts(rctx, npm_cli, env, scripted):
    """`npm rebuild <allow_install_scripts> --offline`, then prunes their build/ directories."""
    names = [n for n in rctx.attr.allow_install_scripts if n in scripted]
    if not names:
        return
    rctx.report_progress("npm rebuild {} (install scripts, building from source)".format(" ".join(names)))

    # prebuild-install and node-pre-gyp would try to download a prebuilt binary first: go straight to node-gyp.
    env = dict(env, npm_config_build_from_source = "true")
    args = [str(npm_cli), "rebuild"] + names + ["--offline", "--foreground-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    result = rctx.execute(args, environment = env, quiet = True, timeout = 3600)
    if result.return_code != 0:
        fail("npm_dependencies(name = {}): `allow_install_scripts`: `npm rebuild {} --offline` failed (exit {}). Building native addons needs python3, make, a C++ compiler and Node's headers (npm's `nodedir` config, e.g. `npm config set nodedir /usr` with /usr/include/node present):\n{}{}".format(
            repr(rctx.attr.name),
            " ".join(names),
            result.return_code,
            result.stdout[-8000:],
            result.stderr[-8000:],
        ))
    for n in names:
        for path, _ in scripted[n]:
            if rctx.path(path + "/build").exists:
                result = rctx.execute(["bash", "-c", _PRUNE_BUILD, "prune", path])
                if result.return_code != 0:
                    fail("npm_dependencies(name = {}): cleaning {}/build failed: {}".format(repr(rctx.attr.name), path, result.stderr))

def _check_in_package(rctx, attr_name, label):
    """Fails naming `attr_name` when `label` (of the main repository) is in a directory with no BUILD file.

    Bazel's own error for it is a traceback through this rule. Only Bazel >= 6 tells a repository rule where the
    main repository is (`repository_ctx.workspace_root`); on older ones Bazel's error stands."""
    if not hasattr(rctx, "workspace_root") or label.workspace_name != "":
        return
    where = rctx.path(str(rctx.workspace_root) + ("/" + label.package if label.package else ""))
    if where.get_child("BUILD.bazel").exists or where.get_child("BUILD").exists:
        return
    fail("npm_dependencies(name = {}): `{}` {} is in {}, which has no BUILD file: add a BUILD.bazel there with exports_files([\"package.json\", {}])".format(
        repr(rctx.attr.name),
        attr_name,
        str(label),
        where,
        json.encode(rctx.attr.lockfile.name),
    ))

# The repository cache (repo_cache.bzl; README, "Cold builds"): what `npm ci` (and the rebuild) made, with the generated
# BUILD file, keyed by the bytes of `package_json` and `lockfile`, every attribute, this rule's own source, the Node
# (versions, platform, arch, glibc), npm's version and configuration (`npm config ls -l`) and, with
# `allow_install_scripts`, the C++ compiler's version. A new output base copies it instead of running `npm ci` again.

# The files of this rule whose text shapes the repository (the generated BUILD file, the pruning): in the cache key.
_RULE_SOURCES = [Label("//bazel/private:npm_repo.bzl"), Label("//bazel/private:npm_globs.js"), _NPM_TREE, Label("//bazel/private:package_managers.bzl"), Label("//bazel/private:repo_cache.bzl"), Label("//bazel/private:repo_cache.js")]

# What `npm ci` and the rebuild make, with the BUILD file generated from it: a cache entry.
_CACHED = ["node_modules", "BUILD.bazel", _GLOBS_BZL]

def _cache(rctx, node, npm_cli, env, pkg_path, lock_path, manager):
    """The cache entry of this fetch (repo_cache.bzl), or None when the cache is off."""
    if repo_cache_dir(rctx) == None:
        return None
    strings = [
        ["name", rctx.attr.name],
        ["apparent_name", rctx.attr.apparent_name],
        ["package_json", str(rctx.attr.package_json)],
        ["lockfile", str(rctx.attr.lockfile)],
        ["omit_dev", str(rctx.attr.omit_dev)],
        ["allow_install_scripts", json.encode(rctx.attr.allow_install_scripts)],
        ["ignore_install_scripts", json.encode(rctx.attr.ignore_install_scripts)],
        ["npm_package.bzl", _NPM_PACKAGE_BZL],
        ["harmless", json.encode(HARMLESS_INSTALL_SCRIPTS)],
        ["package manager", manager + " " + (PACKAGE_MANAGERS[manager].integrity if manager in PACKAGE_MANAGERS else "")],
    ]

    # npm's version and configuration (its user-agent, nodedir, registry, the npm_config_* of the environment...) and,
    # when addons are compiled, the compiler.
    tools = [["npm config", [str(npm_cli), "config", "ls", "-l", "--json"]]]
    if rctx.attr.allow_install_scripts:
        tools.append(["c++ --version", ["c++", "--version"]])
    for what, args in tools:
        result = rctx.execute(args, environment = env, quiet = True, timeout = 120)
        strings.append([what, "exit {}\n{}".format(result.return_code, result.stdout)])
    files = [["package.json", pkg_path], ["lockfile", lock_path]]
    files.extend([["workspace file " + str(f), rctx.path(f)] for f in rctx.attr.workspace_files])
    files.extend([[str(label), rctx.path(label)] for label in _RULE_SOURCES])
    return repo_cache(rctx, node, "npm", strings = strings, files = files)

def _fail(rctx, msg):
    fail("npm_dependencies(name = {}): {}".format(repr(rctx.attr.name), msg))

def _layout_workspace_files(rctx, pkg_label):
    """Places each `workspace_files` file at its path relative to `package_json`'s directory."""
    for f in rctx.attr.workspace_files:
        if f.workspace_name != pkg_label.workspace_name:
            _fail(rctx, "`workspace_files` entry {} is not in the repository of `package_json` {}".format(str(f), str(pkg_label)))
        full = (f.package + "/" + f.name) if f.package else f.name
        prefix = (pkg_label.package + "/") if pkg_label.package else ""
        if not full.startswith(prefix) or full[len(prefix):] in ("package.json", rctx.attr.lockfile.name):
            _fail(rctx, "`workspace_files` entry {} is not a file below {}'s directory (or is that package.json or the lockfile itself)".format(str(f), str(pkg_label)))
        rctx.symlink(rctx.path(f), full[len(prefix):])

def _download_tool(rctx, manager):
    """The pinned package manager `manager` (package_managers.bzl), downloaded once per fetch: the path of its entry script."""
    pin = PACKAGE_MANAGERS[manager]
    out = ".tools/" + manager
    rctx.report_progress("downloading {} {}".format(manager, pin.version))
    rctx.download_and_extract(pin.url, output = out, integrity = pin.integrity, stripPrefix = "package")
    return rctx.path(out + "/" + pin.bin)

def _install(rctx, manager, node, npm_cli, env, lock_label):
    """Runs the package manager's frozen install (no install scripts) in the repository."""
    if manager == "npm":
        args = [str(npm_cli), "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
        if rctx.attr.omit_dev:
            args.append("--omit=dev")
    elif manager == "pnpm":
        # node-linker=hoisted: a flat node_modules as npm makes it (see _DOC, "pnpm").
        args = [str(node), str(_download_tool(rctx, manager)), "install", "--frozen-lockfile", "--ignore-scripts", "--config.node-linker=hoisted", "--config.package-import-method=copy", "--config.manage-package-manager-versions=false", "--reporter=append-only"]
        if rctx.attr.omit_dev:
            args.append("--prod")
    elif manager == "yarn-classic":
        args = [str(node), str(_download_tool(rctx, manager)), "install", "--frozen-lockfile", "--ignore-scripts", "--non-interactive", "--no-progress", "--ignore-engines"]
        if rctx.attr.omit_dev:
            args.append("--production")
    else:  # yarn-berry
        env = dict(env, YARN_NODE_LINKER = "node-modules", YARN_ENABLE_TELEMETRY = "0", YARN_ENABLE_GLOBAL_CACHE = "true", YARN_ENABLE_SCRIPTS = "false", YARN_ENABLE_PROGRESS_BARS = "false", YARN_ENABLE_IMMUTABLE_INSTALLS = "true")

        # Yarn 4 has no production install but `workspaces focus --production` (its bundled workspace-tools plugin).
        args = [str(node), str(_download_tool(rctx, manager))] + (["workspaces", "focus", "--all", "--production"] if rctx.attr.omit_dev else ["install", "--immutable", "--mode=skip-build"])
    env = dict(env, npm_config_update_notifier = "false", COREPACK_ENABLE_STRICT = "0")
    rctx.report_progress("{} install ({})".format(manager, str(lock_label)))
    result = rctx.execute(args, environment = env, quiet = True, timeout = 1800)
    if result.return_code != 0:
        _fail(rctx, "`{}` failed for {} (exit {}):\n{}{}".format(
            " ".join([manager] + args[2:] if manager != "npm" else ["npm"] + args[1:]),
            str(lock_label),
            result.return_code,
            result.stdout[-8000:],
            result.stderr[-8000:],
        ))
    rctx.delete(".tools")

def _installed_tree(rctx, node, lock_file):
    """npm_tree.js: workspace links replaced by copies, then every installed package (path -> package.json facts)."""
    out = ".npm_tree.json"
    result = rctx.execute([node, rctx.path(_NPM_TREE), lock_file, out], quiet = True, timeout = 600)
    if result.return_code != 0:
        _fail(rctx, "reading the installed node_modules failed (exit {}): {}{}".format(result.return_code, result.stdout, result.stderr))
    tree = json.decode(rctx.read(out))["packages"]
    rctx.delete(out)
    return tree

def _npm_repo_impl(rctx):
    lock_label = rctx.attr.lockfile
    pkg_label = rctx.attr.package_json

    # Every label first: Bazel 4 restarts the function at the first one not fetched yet.
    node = rctx.path(rctx.attr.node)
    for label in _RULE_SOURCES:
        rctx.path(label)
    for f in rctx.attr.workspace_files:
        rctx.path(f)
    _check_in_package(rctx, "package_json", pkg_label)
    _check_in_package(rctx, "lockfile", lock_label)
    kind = lockfile_kind(lock_label.name)
    if kind == None:
        _fail(rctx, "`lockfile` {}: the file name says which package manager wrote it, and {} is none of {}".format(
            str(lock_label),
            repr(lock_label.name),
            ", ".join(sorted(LOCKFILE_NAMES.keys())),
        ))
    rctx.symlink(rctx.path(pkg_label), "package.json")
    _layout_workspace_files(rctx, pkg_label)
    lock_text = rctx.read(rctx.path(lock_label))
    manager, problem = lockfile_manager(kind, lock_text)
    if problem:
        _fail(rctx, "`lockfile` {}: {}".format(str(lock_label), problem))
    lock_packages = {}
    if kind == "npm":
        rctx.file(_LOCKFILE, lock_text)
        lock = json.decode(lock_text)
        version = lock.get("lockfileVersion", 0)
        if version < 2:
            _fail(rctx, "`lockfile` {} has lockfileVersion {}; regenerate it with npm >= 7 (lockfileVersion 2 or 3)".format(str(lock_label), version))
        lock_packages = {k: v for k, v in lock.get("packages", {}).items() if k.startswith("node_modules/")}
    else:
        rctx.file(lock_label.name, lock_text)
    npm_cli = rctx.which("npm")
    if npm_cli == None:
        _fail(rctx, "`npm` not found on PATH")
    env = {"PATH": str(node.dirname) + ":" + rctx.os.environ.get("PATH", "")}
    cache = _cache(rctx, node, npm_cli, env, rctx.path(pkg_label), rctx.path(lock_label), manager)
    if repo_cache_restore(rctx, cache, _CACHED):
        return
    _install(rctx, manager, node, npm_cli, env, lock_label)
    tree = _installed_tree(rctx, node, lock_label.name)

    # What the package manager really installed, with the npm lockfile's flags (`dev`, `hasInstallScript`) when there
    # is one: a lockfile also lists other platforms' optional packages (`@esbuild/*`, `fsevents`...), and a glob of a
    # missing one is an error under --incompatible_disallow_empty_glob (Bazel 8).
    installed = {p: dict(lock_packages.get(p, {}), **tree[p]) for p in tree.keys()}
    if kind != "npm":
        # For the SBOM (NpmPackageInfo.lockfiles): what the lockfile says of each installed package, in npm's format.
        rctx.file(_LOCKFILE, json.encode({"lockfileVersion": 3, "packages": {p: {k: installed[p][k] for k in ("version", "integrity", "resolved") if k in installed[p]} for p in sorted(installed.keys())}}))
    scripted = {}  # package name -> [(path, what runs)]
    for p in sorted(installed.keys()):
        if not installed[p].get("workspace") and not installed[p].get("link", False):
            what = _install_scripts(rctx, p, installed[p])
            if what:
                scripted.setdefault(_package_name(p), []).append((p, what))
    _check_install_scripts(rctx, dict(lock_packages, **installed), scripted)
    _run_install_scripts(rctx, npm_cli, env, scripted)
    typed = {p: _type_surface(rctx, p) for p in installed.keys()}
    bins = _bin_links(rctx, installed)

    # What users write: under bzlmod, `name` is the canonical name (`rules_pipeline~~pipeline~npm`).
    repo_name = rctx.attr.apparent_name or rctx.attr.name
    patterns = {}
    targets = _package_target("node_modules", sorted(installed.keys()), typed, bins, repo_name, patterns, srcs = ["node_modules/**"])
    dev_omitted = rctx.attr.omit_dev
    for path in sorted(installed.keys()):
        if path.find("/node_modules/") >= 0:
            continue  # nested: part of its parent's target
        info = installed[path]
        if dev_omitted and info.get("dev", False):
            continue
        if info.get("link", False) and not info.get("workspace"):
            continue  # a link to a directory outside the repository (`file:../x`): in `node_modules` only
        targets.extend(_package_target(path, _closure(installed, path), typed, bins, repo_name, patterns))
    lines = [
        "# Generated by rules_pipeline's npm_dependencies from {}.".format(str(lock_label)),
        "load({}, {}, {})".format(repr(_NPM_PACKAGE_BZL), repr("npm_files"), repr("npm_package")),
        "",
        "# The files each pattern matched when the repository was fetched, less {}: what a glob of it would give.".format(repr(_EXCLUDES)),
        "load({}, {})".format(repr(":" + _GLOBS_BZL), repr("GLOBS")),
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
    ]
    _write_globs(rctx, node, patterns.keys())
    rctx.file("BUILD.bazel", "\n".join(lines + targets))
    repo_cache_store(rctx, cache, _CACHED)

npm_dependencies = repository_rule(
    implementation = _npm_repo_impl,
    doc = _DOC,
    attrs = {
        "package_json": attr.label(mandatory = True, allow_single_file = True, doc = "The package.json next to the lockfile."),
        "lockfile": attr.label(mandatory = True, allow_single_file = True, doc = """The lockfile, whose file name says which
package manager installs it: `package-lock.json`/`npm-shrinkwrap.json` (lockfileVersion 2 or 3, npm), `pnpm-lock.yaml`
(lockfileVersion '9.0', pnpm) or `yarn.lock` (classic v1, or berry with `__metadata` version 8)."""),
        "workspace_files": attr.label_list(allow_files = True, doc = """The files of the workspace packages (npm
`"workspaces"`, `pnpm-workspace.yaml`, yarn workspaces), at their paths below `package_json`'s directory: each
workspace package's package.json and the files it ships (e.g. `//packages/lib:package.json`,
`//packages/lib:index.js`), and `pnpm-workspace.yaml` for pnpm. They are inputs of the fetch: editing one refetches.
A workspace package is a target like any other (`@npm//:node_modules/@acme/lib`), holding a copy of its listed files
and its dependencies."""),
        "omit_dev": attr.bool(default = False, doc = "Skip devDependencies (`npm ci --omit=dev`)."),
        "apparent_name": attr.string(doc = """The repository's name as users write it in labels (`npm` in
`@npm//:node_modules/ms`), which the compiler's hints show. Default: `name`. The bzlmod extension sets it to the
`pipeline.npm(name = ...)` given, as `name` is then the canonical name (`rules_pipeline~~pipeline~npm`)."""),
        "node": attr.label(default = "@rules_pipeline_node//:bin/node", allow_single_file = True, doc = "Node used to run npm."),
        "allow_install_scripts": attr.string_list(doc = """Packages (npm names, e.g. `["better-sqlite3"]`) whose install
scripts run at fetch time, offline (`npm rebuild <names> --offline`): native addons are compiled from source by
node-gyp against the Node in use (the machine needs python3, make, a C++ compiler and Node's headers through npm's
`nodedir` config). Their built `build/Release/*.node` files are kept, the other build byproducts dropped. The build
is as reproducible as the compiler makes it."""),
        "ignore_install_scripts": attr.string_list(doc = """Packages whose install scripts are known not to be needed:
installed without running them, and without the error an unlisted package with install scripts gives."""),
    },
    environ = REPO_CACHE_ENVIRON,
)
