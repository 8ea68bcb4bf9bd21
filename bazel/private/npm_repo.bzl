"""Repository rule installing npm packages from a package.json + package-lock.json with `npm ci`."""

_DOC = """Installs the packages of a package-lock.json (lockfileVersion 2 or 3) with `npm ci --ignore-scripts`.

Targets in the generated repository:
- `@<name>//:node_modules`: every installed package.
- `@<name>//:node_modules/<package>` (e.g. `@npm//:node_modules/lodash`, `@npm//:node_modules/@types/node`):
  one top-level package and everything it depends on (its transitive closure from the lockfile).

Files keep their `node_modules/...` path, which is how `pipeline` places them at `/app/node_modules` in the
image and in the runfiles of `_local`/`_binary`. Install scripts do not run (`--ignore-scripts`): packages that
need a native build step are not supported yet.
"""

_EXCLUDES = [
    "node_modules/.bin/**",
    "node_modules/.package-lock.json",
    "node_modules/**/.bin/**",
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

    # Patterns that match nothing (or a directory) add nothing: the glob allows that.
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

def _package_target(name, closure, typed, bins, srcs = None):
    """An npm_package target.

    Every file of `closure` (package paths) or `srcs` globs, their type surface, and the
    `node_modules/.bin` commands of the packages in `closure`."""
    bin_links = {}
    for p in closure:
        bin_links.update(bins.get(p, {}))
    srcs = srcs or [p + "/**" for p in closure]
    types = []
    for p in closure:
        types.extend(typed[p])
    return [
        "npm_package(",
        "    name = {},".format(repr(name)),
        "    srcs = glob({}, exclude = {}, allow_empty = {}),".format(repr(srcs), repr(_EXCLUDES), repr(len(closure) == 0)),
        "    types = glob({}, exclude = {}, allow_empty = True),".format(repr(types), repr(_EXCLUDES)),
        "    bin_links = {},".format(repr({k: bin_links[k] for k in sorted(bin_links.keys())})),
        ")",
        "",
    ]

def _npm_repo_impl(rctx):
    lock_label = rctx.attr.lockfile
    pkg_label = rctx.attr.package_json
    rctx.symlink(rctx.path(pkg_label), "package.json")
    lock_text = rctx.read(rctx.path(lock_label))
    rctx.file("package-lock.json", lock_text)
    lock = json.decode(lock_text)
    version = lock.get("lockfileVersion", 0)
    if version < 2:
        fail("npm_dependencies(name = {}): `lockfile` {} has lockfileVersion {}; regenerate it with npm >= 7 (lockfileVersion 2 or 3)".format(
            repr(rctx.attr.name),
            str(lock_label),
            version,
        ))
    packages = {k: v for k, v in lock.get("packages", {}).items() if k.startswith("node_modules/")}
    node = rctx.path(rctx.attr.node)
    npm_cli = rctx.which("npm")
    if npm_cli == None:
        fail("npm_dependencies(name = {}): `npm` not found on PATH".format(repr(rctx.attr.name)))
    args = [str(npm_cli), "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    if rctx.attr.omit_dev:
        args.append("--omit=dev")
    rctx.report_progress("npm ci ({} packages)".format(len(packages)))
    env = {"PATH": str(node.dirname) + ":" + rctx.os.environ.get("PATH", "")}
    result = rctx.execute(args, environment = env, quiet = True, timeout = 1800)
    if result.return_code != 0:
        fail("npm_dependencies(name = {}): `npm ci` failed for {} (exit {}):\n{}{}".format(
            repr(rctx.attr.name),
            str(lock_label),
            result.return_code,
            result.stdout,
            result.stderr,
        ))

    # Only what npm really installed: a lockfile also lists other platforms' optional packages (`@esbuild/*`,
    # `fsevents`...), and a glob of a missing one is an error under --incompatible_disallow_empty_glob (Bazel 8).
    installed = {p: packages[p] for p in packages.keys() if rctx.path(p).exists}
    typed = {p: _type_surface(rctx, p) for p in installed.keys()}
    bins = _bin_links(rctx, installed)

    lines = [
        "# Generated by rules_pipeline's npm_dependencies from {}.".format(str(lock_label)),
        "load({}, {})".format(repr(_NPM_PACKAGE_BZL), repr("npm_package")),
        "",
        'package(default_visibility = ["//visibility:public"])',
        "",
    ]
    lines.extend(_package_target("node_modules", sorted(installed.keys()), typed, bins, srcs = ["node_modules/**"]))
    dev_omitted = rctx.attr.omit_dev
    for path in sorted(installed.keys()):
        if path.find("/node_modules/") >= 0:
            continue  # nested: part of its parent's target
        info = installed[path]
        if dev_omitted and info.get("dev", False):
            continue
        if info.get("link", False):
            continue
        lines.extend(_package_target(path, _closure(installed, path), typed, bins))
    rctx.file("BUILD.bazel", "\n".join(lines))

npm_dependencies = repository_rule(
    implementation = _npm_repo_impl,
    doc = _DOC,
    attrs = {
        "package_json": attr.label(mandatory = True, allow_single_file = True, doc = "The package.json next to the lockfile."),
        "lockfile": attr.label(mandatory = True, allow_single_file = True, doc = "package-lock.json (lockfileVersion 2 or 3)."),
        "omit_dev": attr.bool(default = False, doc = "Skip devDependencies (`npm ci --omit=dev`)."),
        "node": attr.label(default = "@rules_pipeline_node//:bin/node", allow_single_file = True, doc = "Node used to run npm."),
    },
)
