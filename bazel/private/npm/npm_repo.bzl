"""Repository rule installing npm packages from a package.json and its lockfile (npm, pnpm or yarn)."""

load("//bazel/private/common:outside_text.bzl", "outside_text")
load("//bazel/private/repositories:repo_cache.bzl", "REPO_CACHE_ENVIRON", "repo_cache", "repo_cache_dir", "repo_cache_restore", "repo_cache_store")
load(":install_scripts.bzl", "HARMLESS_INSTALL_SCRIPTS", "check_install_scripts", "install_scripts_of", "package_name", "run_install_scripts")
load(":npm_build_file.bzl", "GLOBS_BZL", "NPM_EXCLUDES", "NPM_LOCKFILE", "NPM_PACKAGE_BZL", "bin_links", "closure", "package_target", "type_surface", "write_globs")
load(":package_managers.bzl", "LOCKFILE_NAMES", "PACKAGE_MANAGERS", "lockfile_kind", "lockfile_manager", "yarnrc_problem")

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

The repository is not trusted (docs/npm.md, "What a repository you build can do"): a `yarn.lock` dependency that yarn
prepares from source, running its scripts whatever the flags say (git, `github:`, a git host's archive, `exec:`),
fails the fetch naming it unless it is in `allow_install_scripts`; the package-manager configuration files listed
in `workspace_files` beside `package_json` (`.npmrc`, `.yarnrc`, `.yarnrc.yml`, `pnpm-workspace.yaml`) are read
through an allow-list of keys (registries, scopes, credentials, TLS, hoisting), every other key (`plugins`,
`pnpmfile`, `cache`...) left out with a DEBUG line naming the file and the key.
"""

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
_NPM_TREE = Label("//bootstrap:npm_tree.js")

# What a repository may tell its package manager (its dependencies' sources, its configuration's keys): run before any
# install, the same file `pipeline build --lockfile` imports.
_NPM_GUARD = Label("//bootstrap:npm_guard.js")

# The package-manager configuration files npm_guard.js filters (its CONFIG_NAMES: test/unit/npm-guard.test.ts).
_CONFIG_NAMES = [".npmrc", ".yarnrc", ".yarnrc.yml", "pnpm-workspace.yaml"]

_RULE_SOURCES = [_NPM_GUARD, Label("//bazel/private/npm:npm_repo.bzl"), Label("//bazel/private/npm:install_scripts.bzl"), Label("//bazel/private/npm:npm_build_file.bzl"), Label("//bootstrap:npm_globs.js"), _NPM_TREE, Label("//bazel/private/npm:package_managers.bzl"), Label("//bazel/private/repositories:repo_cache.bzl"), Label("//bootstrap:repo_cache.js")]

# What `npm ci` and the rebuild make, with the BUILD file generated from it: a cache entry. With pnpm and yarn, also
# the npm-format lockfile written from the installed tree for the SBOM (NPM_LOCKFILE; with npm, the fetch writes it
# before the cache is looked at).
_CACHED = ["node_modules", "BUILD.bazel", GLOBS_BZL]

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
        ["npm_package.bzl", NPM_PACKAGE_BZL],
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
    # `msg` may quote the package manager's output: its control characters are shown, not sent to the terminal.
    fail(outside_text("npm_dependencies(name = {}): {}".format(repr(rctx.attr.name), msg)))

def _layout_workspace_files(rctx, pkg_label):
    """Places each `workspace_files` file at its path relative to `package_json`'s directory.

    The package-manager configuration files beside `package_json` are not placed: _guard writes what of them may be read.

    Returns:
      [[label, path]] of those configuration files.
    """
    configs = []
    for f in rctx.attr.workspace_files:
        if f.workspace_name != pkg_label.workspace_name:
            _fail(rctx, "`workspace_files` entry {} is not in the repository of `package_json` {}".format(str(f), str(pkg_label)))
        full = (f.package + "/" + f.name) if f.package else f.name
        prefix = (pkg_label.package + "/") if pkg_label.package else ""
        if not full.startswith(prefix) or full[len(prefix):] in ("package.json", rctx.attr.lockfile.name):
            _fail(rctx, "`workspace_files` entry {} is not a file below {}'s directory (or is that package.json or the lockfile itself)".format(str(f), str(pkg_label)))
        if full[len(prefix):] in _CONFIG_NAMES:
            configs.append([str(f), str(rctx.path(f))])
        else:
            rctx.symlink(rctx.path(f), full[len(prefix):])
    return configs

def _guard(rctx, node, manager, lock_label, configs):
    """Runs npm_guard.js before any install.

    It fails on a dependency yarn would prepare from source (running its scripts) that is not in
    `allow_install_scripts`, and writes the allowed keys of the configuration files `configs` into the repository; the
    keys left out are printed (a DEBUG line naming the file and the key).

    Args:
      rctx: the repository context.
      node: the Node binary.
      manager: the package manager (package_managers.bzl).
      lock_label: `lockfile`.
      configs: [[label, path]] of the configuration files beside `package_json` (_layout_workspace_files).
    """
    args = [node, rctx.path(_NPM_GUARD), manager, rctx.path(lock_label), str(lock_label), "."]
    for name in rctx.attr.allow_install_scripts:
        args.extend(["--allow", name])
    for label, path in configs:
        args.extend(["--config", "{}={}".format(label, path)])
    result = rctx.execute(args, quiet = True, timeout = 120)
    if result.return_code != 0:
        _fail(rctx, result.stderr + result.stdout)
    if result.stdout:
        print("npm_dependencies(name = {}): {}".format(repr(rctx.attr.name), result.stdout.strip()))  # buildifier: disable=print

# A yarn berry project's `.yarnrc.yml` beside package.json must be listed in `workspace_files`; Yarn then reads it
# (registries, scopes, hoisting limits...), but `yarnPath` (the pinned Yarn runs: YARN_IGNORE_PATH) and `enableScripts`
# (scripts stay off; `allow_install_scripts` decides). A `nodeLinker` other than `node-modules` fails the fetch.
# (The rule's doc string, and so docs/rules.md, do not say it yet.)
def _check_yarnrc(rctx, pkg_label, lock_label):
    """Fails on a yarn berry project's `.yarnrc.yml` that is not in `workspace_files`, or that Yarn cannot honour.

    Args:
      rctx: the repository context.
      pkg_label: `package_json`.
      lock_label: `lockfile`.
    """
    listed = [f for f in rctx.attr.workspace_files if f.workspace_name == pkg_label.workspace_name and f.package == pkg_label.package and f.name == ".yarnrc.yml"]
    if not listed:
        if rctx.path(pkg_label).dirname.get_child(".yarnrc.yml").exists:
            _fail(rctx, "`lockfile` {} is a Yarn berry lockfile, and there is a .yarnrc.yml beside {} that is not in `workspace_files`: add {} to `workspace_files`, so that Yarn reads its settings (registries, hoisting...) and an edit of it refetches".format(
                str(lock_label),
                str(pkg_label),
                json.encode(str(pkg_label)[:-len(pkg_label.name)] + ".yarnrc.yml"),
            ))
        return
    problem = yarnrc_problem(rctx.read(rctx.path(listed[0])))
    if problem:
        _fail(rctx, "`workspace_files` {}: {}".format(str(listed[0]), problem))

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
        args = [str(node), str(_download_tool(rctx, manager)), "install", "--frozen-lockfile", "--ignore-scripts", "--ignore-pnpmfile", "--config.node-linker=hoisted", "--config.package-import-method=copy", "--config.manage-package-manager-versions=false", "--reporter=append-only"]
        if rctx.attr.omit_dev:
            args.append("--prod")
    elif manager == "yarn-classic":
        args = [str(node), str(_download_tool(rctx, manager)), "install", "--frozen-lockfile", "--ignore-scripts", "--non-interactive", "--no-progress", "--ignore-engines"]
        if rctx.attr.omit_dev:
            args.append("--production")
    else:  # yarn-berry
        # YARN_IGNORE_PATH: the pinned Yarn runs, not the one a .yarnrc.yml's `yarnPath` names (the lockfile's
        # `__metadata` version says it is one Yarn 4 installs as it is).
        env = dict(env, YARN_IGNORE_PATH = "1", YARN_NODE_LINKER = "node-modules", YARN_ENABLE_TELEMETRY = "0", YARN_ENABLE_GLOBAL_CACHE = "true", YARN_ENABLE_SCRIPTS = "false", YARN_ENABLE_PROGRESS_BARS = "false", YARN_ENABLE_IMMUTABLE_INSTALLS = "true")

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
    configs = _layout_workspace_files(rctx, pkg_label)
    lock_text = rctx.read(rctx.path(lock_label))
    manager, problem = lockfile_manager(kind, lock_text)
    if problem:
        _fail(rctx, "`lockfile` {}: {}".format(str(lock_label), problem))
    if manager == "yarn-berry":
        _check_yarnrc(rctx, pkg_label, lock_label)
    _guard(rctx, node, manager, lock_label, configs)
    lock_packages = {}
    if kind == "npm":
        rctx.file(NPM_LOCKFILE, lock_text)
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
    cached = _CACHED if kind == "npm" else _CACHED + [NPM_LOCKFILE]
    if repo_cache_restore(rctx, cache, cached):
        return
    _install(rctx, manager, node, npm_cli, env, lock_label)
    tree = _installed_tree(rctx, node, lock_label.name)

    # What the package manager really installed, with the npm lockfile's flags (`dev`, `hasInstallScript`) when there
    # is one: a lockfile also lists other platforms' optional packages (`@esbuild/*`, `fsevents`...), and a glob of a
    # missing one is an error under --incompatible_disallow_empty_glob (Bazel 8).
    installed = {p: dict(lock_packages.get(p, {}), **tree[p]) for p in tree.keys()}
    if kind != "npm":
        # For the SBOM (NpmPackageInfo.lockfiles): what the lockfile says of each installed package, in npm's format.
        rctx.file(NPM_LOCKFILE, json.encode({"lockfileVersion": 3, "packages": {p: {k: installed[p][k] for k in ("version", "integrity", "resolved") if k in installed[p]} for p in sorted(installed.keys())}}))
    scripted = {}  # package name -> [(path, what runs)]
    for p in sorted(installed.keys()):
        if not installed[p].get("workspace") and not installed[p].get("link", False):
            what = install_scripts_of(rctx, p, installed[p])
            if what:
                scripted.setdefault(package_name(p), []).append((p, what))
    check_install_scripts(rctx, dict(lock_packages, **installed), scripted)
    run_install_scripts(rctx, npm_cli, env, scripted)
    typed = {p: type_surface(rctx, p) for p in installed.keys()}
    bins = bin_links(rctx, installed)

    # What users write: under bzlmod, `name` is the canonical name (`rules_pipeline~~pipeline~npm`).
    repo_name = rctx.attr.apparent_name or rctx.attr.name
    patterns = {}
    targets = package_target("node_modules", sorted(installed.keys()), typed, bins, repo_name, patterns, srcs = ["node_modules/**"])
    dev_omitted = rctx.attr.omit_dev
    for path in sorted(installed.keys()):
        if path.find("/node_modules/") >= 0:
            continue  # nested: part of its parent's target
        info = installed[path]
        if dev_omitted and info.get("dev", False):
            continue
        if info.get("link", False) and not info.get("workspace"):
            continue  # a link to a directory outside the repository (`file:../x`): in `node_modules` only
        targets.extend(package_target(path, closure(installed, path), typed, bins, repo_name, patterns))
    lines = [
        "# Generated by rules_pipeline's npm_dependencies from {}.".format(str(lock_label)),
        "load({}, {}, {})".format(repr(NPM_PACKAGE_BZL), repr("npm_files"), repr("npm_package")),
        "",
        "# The files each pattern matched when the repository was fetched, less {}: what a glob of it would give.".format(repr(NPM_EXCLUDES)),
        "load({}, {})".format(repr(":" + GLOBS_BZL), repr("GLOBS")),
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
    ]
    write_globs(rctx, node, patterns.keys())
    rctx.file("BUILD.bazel", "\n".join(lines + targets))
    repo_cache_store(rctx, cache, cached)

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
is as reproducible as the compiler makes it. A `yarn.lock` dependency yarn prepares from source (a git clone, whose
scripts yarn runs) must be listed here too, or the fetch fails naming it."""),
        "ignore_install_scripts": attr.string_list(doc = """Packages whose install scripts are known not to be needed:
installed without running them, and without the error an unlisted package with install scripts gives."""),
    },
    environ = REPO_CACHE_ENVIRON,
)
