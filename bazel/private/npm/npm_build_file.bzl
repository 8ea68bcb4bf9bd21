"""The BUILD file npm_repo.bzl generates for an installed node_modules: one `npm_package` target per package (its
files, its dependency closure, the files tsc reads of it, its `.bin` commands), the files named through npm_globs.bzl."""

load("//bazel/private/common:outside_text.bzl", "outside_text")

NPM_EXCLUDES = [
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

def closure(packages, root):
    """The packages `root` needs, through node's resolution of its dependencies, and their dependencies.

    Args:
      packages: the installed packages by path.
      root: a package path.

    Returns:
      The sorted package paths, `root` included.
    """
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

NPM_PACKAGE_BZL = _absolute(Label("//bazel/private/npm:npm_package.bzl"))
_NPM_GLOBS = Label("//bootstrap:npm_globs.js")

# Where a package's declarations may be, when it ships any.
_TYPES_PATTERNS = ["**/package.json", "**/*.d.ts", "**/*.d.mts", "**/*.d.cts"]

def type_surface(rctx, path):
    """What tsc reads of the installed package at `path`.

    Its package.json files and declarations, plus, when it
    ships no declarations (a heuristic that errs towards "none"), the JavaScript file it resolves to, so that an
    untyped import still resolves (to `any`) without making every file of the package an input.

    Args:
      rctx: the repository context.
      path: the package's path in the repository.

    Returns:
      Glob patterns.
    """
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

def bin_links(rctx, installed):
    """`node_modules/.bin` as the package manager made it.

    Args:
      rctx: the repository context.
      installed: the installed packages by path.

    Returns:
      package path -> {command: target relative to node_modules}.
    """
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
NPM_LOCKFILE = "package-lock.json"

def package_target(name, closure, typed, bins, repo_name, patterns, srcs = None):
    """An npm_package target.

    Every file of `closure` (package paths) or `srcs` patterns, their type surface, the
    `node_modules/.bin` commands of the packages in `closure`, the lockfile (for the SBOM) and the name users write
    for the repository (for hints). The files are named, not globbed: `GLOBS` (npm_globs.bzl, written by
    npm_globs.js) holds what each pattern matched at fetch time, and every pattern used is added to `patterns`.

    Args:
      name: the target's name.
      closure: package paths whose files it holds.
      typed: package path -> its type surface's patterns.
      bins: bin_links()' result.
      repo_name: the repository's name as users write it.
      patterns: every pattern used so far (added to).
      srcs: patterns instead of the closure's packages' files.

    Returns:
      The target's lines of the BUILD file.
    """
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
        "    lockfile = {},".format(repr(":" + NPM_LOCKFILE)),
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
GLOBS_BZL = "npm_globs.bzl"

def write_globs(rctx, node, patterns):
    """Writes `GLOBS_BZL`: each pattern -> the files glob(pattern, exclude = NPM_EXCLUDES) would give.

    Args:
      rctx: the repository context.
      node: the node binary.
      patterns: the patterns (a dict used as a set).
    """
    spec = ".npm_globs.json"
    rctx.file(spec, json.encode({"patterns": patterns, "excludes": NPM_EXCLUDES}))
    result = rctx.execute([node, rctx.path(_NPM_GLOBS), spec, GLOBS_BZL], quiet = True, timeout = 600)
    if result.return_code != 0:
        fail(outside_text("npm_dependencies(name = {}): listing the files of node_modules failed (exit {}): {}{}".format(
            repr(rctx.attr.name),
            result.return_code,
            result.stdout,
            result.stderr,
        )))
    rctx.delete(spec)
