"""Where each file of a pipeline goes: the app tree is `/app` in the image and the workspace directory of the
runfiles tree in `_local`/`_binary` runs, so the launch script sees the same layout in both.

- files of this workspace: `<workspace-relative path>` (`examples/hello/main.js`)
- any file under a `node_modules/` directory (npm packages, from any repository): `node_modules/...`
- other repositories' files: `external/<stable name>/<path>`, where the stable name (`stable_repo_name`) is the
  same under every Bazel version: the module name for a module's repository (`foo~1.2.3`, `foo~`, `foo+` → `foo`),
  the last part of an extension's repository (`rules_pipeline++pipeline+rules_pipeline_npm` → `rules_pipeline_npm`),
  a WORKSPACE repository's own name. Two repositories with the same stable name fail analysis.
- the runtime library: `node_modules/@rules_pipeline/runtime/<file>`
- files of a `ts_library(module_name = "@acme/lib")` in package `lib`: at `lib/...`, and `node_modules/@acme/lib` is
  a symlink to that directory in the image (in runfiles, a symlink per file), so the files are stored once and
  `import "@acme/lib"` and `import "../lib"` load the same module (Node resolves symlinks to the real path)
- npm's `node_modules/.bin/<command>`: a symlink to the package's file (`../typescript/bin/tsc`), as npm makes it
"""

APP_ROOT = "app"

def third_party_path(f):
    """`node_modules/...` path of a file inside a node_modules tree, else None.

    Args:
      f: a File.

    Returns:
      The path from the innermost `node_modules/` on, or None when `f` is not in a node_modules tree.
    """
    sp = f.short_path
    if sp.startswith("node_modules/"):
        return sp
    i = sp.find("/node_modules/")
    if i < 0:
        return None
    return sp[i + 1:]

def stable_repo_name(canonical):
    """The name of a repository in the app tree: the same under Bazel 4 to 9.

    Bazel 6 names a module's repository `foo~1.2.3`, 7 `foo~`, 8 `foo+`; an extension's repository
    `foo~1.2.3~ext~bar`, `foo~~ext~bar`, `foo++ext+bar`. Mirrored by `stableRepoName` in src/launch/runfiles.ts.

    Args:
      canonical: the canonical repository name (`File.owner.workspace_name`, or the first part of `../x/...`).

    Returns:
      The module name of a module's repository, the last part of an extension's, else `canonical` itself.
    """
    for sep in ("+", "~"):
        if sep in canonical:
            parts = canonical.split(sep)
            return parts[0] if len(parts) <= 2 else parts[-1]
    return canonical

def check_stable_repo_names(label, canonical_names):
    """Fails naming both repositories when two of `canonical_names` have the same stable name.

    Args:
      label: the target's label, for the error message.
      canonical_names: canonical repository names (duplicates allowed).
    """
    seen = {}
    for c in canonical_names:
        s = stable_repo_name(c)
        if seen.get(s, c) != c:
            fail("{}: repositories {} and {} would both be at /app/external/{} (rules_pipeline names a repository in the image by its module or last name, the same under every Bazel version); rename one of them".format(
                label,
                repr(seen[s]),
                repr(c),
                s,
            ))
        seen[s] = c

def external_repos(files):
    """Canonical names of the repositories outside the main one that hold first-party `files`.

    Args:
      files: a list of Files.

    Returns:
      The sorted, unique canonical names.
    """
    out = {}
    for f in files:
        sp = f.short_path
        if sp.startswith("../") and third_party_path(f) == None:
            out[sp[3:].split("/", 1)[0]] = True
    return sorted(out.keys())

def first_party_path(f):
    """App-relative path of a first-party file: workspace-relative, or `external/<stable name>/<path>`.

    Args:
      f: a File.

    Returns:
      The path under the app root.
    """
    sp = f.short_path
    if sp.startswith("../"):
        parts = sp[3:].split("/", 1)
        return "external/" + stable_repo_name(parts[0]) + "/" + parts[1]
    return sp

def runtime_path(f):
    return "node_modules/@rules_pipeline/runtime/" + f.basename

_DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts", ".d.ts.map", ".d.mts.map", ".d.cts.map")

def is_declaration(f):
    """Whether `f` is read by the TypeScript compiler only: a `.d.ts` (or its map), or a file of an `@types/*` package.

    Args:
      f: a File.

    Returns:
      True for files the program never loads at run time.
    """
    if f.basename.endswith(_DECLARATION_SUFFIXES):
        return True
    p = third_party_path(f)
    return p != None and p[p.rfind("node_modules/") + len("node_modules/"):].startswith("@types/")

def is_app_file(f):
    """Sources compiled into .js are left out; everything else the program may load is kept."""
    return not (f.extension in ("ts", "tsx", "mts", "cts") and not f.basename.endswith(".d.ts"))

# Outputs of actions that are data for Node, not programs: written 0644 in the image. Bazel makes every action output
# executable (0555), so the file's own bits say nothing; source files keep theirs (a script's x bit is its own).
_DATA_EXTENSIONS = ("js", "cjs", "mjs", "json", "map")

def _third_party_line(f):
    p = third_party_path(f)
    if p == None or not is_app_file(f):
        return None
    line = "{}\t{}".format(APP_ROOT + "/" + p, f.path)
    if _may_be_package_link(f, p):
        # rules_js's package links (`node_modules/<name>`, and each store package's `node_modules/<dep>`) stay links in
        # the layer, so that Node finds a package's dependencies beside it in the store as pnpm lays them out; the
        # layer command keeps a relative link inside the app tree as a symlink and reads anything else as a file.
        line += "\tlink"
    return line

def _first_party_line(f):
    if third_party_path(f) != None or not is_app_file(f):
        return None
    line = "{}\t{}".format(APP_ROOT + "/" + first_party_path(f), f.path)
    if not f.is_source and f.extension in _DATA_EXTENSIONS:
        line += "\tmode\t0644"
    return line

# The runtime library's files are written 0755, as they always were (a checkout's TsTranspile output is 0555, and a
# file without a mode keeps its x bits). The release archive's prebuilt copy (prebuilt.bzl) is a 0644 source file:
# without the mode here the same sources gave another node_modules layer, and every image another digest, from the
# archive than from a checkout (test/e2e/release-archive.test.ts and bazel7-bzlmod.test.ts compare them).
def _runtime_line(f):
    return "{}\t{}\tmode\t0755".format(APP_ROOT + "/" + runtime_path(f), f.path)

def linked_module_paths(f, module_mappings):
    """The `node_modules/<module_name>/...` paths where first-party file `f` is linked (ts_library module_name).

    Args:
      f: a first-party File.
      module_mappings: list of (module_name, package path) pairs.

    Returns:
      A list of app-relative paths, one per mapping whose package holds `f`.
    """
    out = []
    p = first_party_path(f)
    for name, pkg in module_mappings:
        if p.startswith(pkg + "/"):
            out.append("node_modules/" + name + "/" + p[len(pkg) + 1:])
    return out

def _bin_targets(files, bin_links):
    """[(command, node_modules-relative target)] of `bin_links` whose target is among `files` (no dangling links)."""
    present = {}
    for f in files.to_list():
        p = third_party_path(f)
        if p != None:
            present[p] = f
    by_name = {}
    for line in bin_links.to_list():
        name, target = line.split("\t")
        f = present.get("node_modules/" + target)
        if f != None and "/" not in name and name not in (".", "..") and name not in by_name:
            by_name[name] = (name, target, f)
    return [by_name[n] for n in sorted(by_name.keys())]

def add_bin_links(args, files, bin_links):
    """Adds `dest<TAB>symlink<TAB>target` lines for `node_modules/.bin` to a layer's file list.

    Args:
      args: the Args of the file list (multiline format).
      files: depset of the app's Files.
      bin_links: depset of `command<TAB>target` lines (NpmPackageInfo.bin_links).
    """
    args.add_all(["{}/node_modules/.bin/{}\tsymlink\t../{}".format(APP_ROOT, name, target) for name, target, _ in _bin_targets(files, bin_links)])

def add_linked_modules(args, files, module_mappings):
    """Adds `dest<TAB>symlink<TAB>target` lines to a layer's file list: `node_modules/<module_name>` -> the library's directory.

    One symlink per `ts_library(module_name = ...)` whose package holds some of the app's first-party files (the same
    files `linked_module_paths` places under that name in runfiles), so the image stores them once.

    Args:
      args: the Args of the file list (multiline format).
      files: depset of the app's Files.
      module_mappings: depset of (module_name, package path) pairs.
    """
    mappings = module_mappings.to_list()
    lines = {}
    if mappings:
        for f in files.to_list():
            if third_party_path(f) == None and is_app_file(f):
                p = first_party_path(f)
                for name, pkg in mappings:
                    if p.startswith(pkg + "/"):
                        # From node_modules/<name>'s directory (node_modules/ or node_modules/@scope/) up to the app root.
                        up = "../" * (1 + name.count("/"))
                        lines["{}/node_modules/{}\tsymlink\t{}{}".format(APP_ROOT, name, up, pkg)] = True
    args.add_all(sorted(lines.keys()))

def add_layer_files(args, files, which):
    """Adds `dest<TAB>src` lines for the files of one layer ("third_party", "runtime" or "first_party") to its file list.

    Args:
      args: the Args of the file list (multiline format).
      files: depset (or list) of Files to place.
      which: "third_party", "runtime" or "first_party".
    """
    fn = {"third_party": _third_party_line, "first_party": _first_party_line, "runtime": _runtime_line}[which]
    args.add_all(files, map_each = fn)

def _may_be_package_link(f, path):
    """Whether `f` may be a package linked by an unresolved symlink: a generated file named like a package.

    Starlark cannot tell such a symlink (rules_js's `node_modules/<package>`) from a file on Bazel 7.7.1 (no
    `File.is_symlink`): a generated file that is not a directory, at `node_modules/<name>` or `node_modules/@scope/<name>`.

    Args:
      f: a File.
      path: its `node_modules/...` path (third_party_path).

    Returns:
      True for what may be a link (a plain file named so gets a second runfiles entry at its own path, which is harmless).
    """
    if f.is_source or f.is_directory:
        return False
    parts = path[path.rfind("node_modules/") + len("node_modules/"):].split("/")
    return len(parts) == 1 or (len(parts) == 2 and parts[0].startswith("@"))

def app_runfiles(ctx, app_files, runtime_files, module_mappings = depset(), bin_links = depset(), root_package_json = None):
    """Runfiles laying out the app tree under the workspace directory of the runfiles tree.

    With `root_package_json` (an empty `{}`), `package.json` at the root of the runfiles tree: Node takes a `.js`
    file's module type from the nearest package.json above it, and the runfiles tree lies under `bazel-out/`, below
    the workspace root. Without it, the workspace root's package.json (`"type": "module"` in many projects) decided
    for every app file that has no package.json of its own, in runfiles only: the image has nothing above `/app`. With
    it, the search ends at the app tree's top in both places: a `"type": "module"` package.json counts where the user
    lists it (`srcs` or `data`, e.g. `data = ["//:package.json"]`), and only there.

    Args:
      ctx: the rule context.
      app_files: depset of the app's Files.
      runtime_files: list of the runtime library's Files.
      module_mappings: depset of (module_name, package path) pairs.
      bin_links: depset of `command<TAB>target` lines.
      root_package_json: a File holding `{}`, or None.

    Returns:
      A runfiles object.
    """
    check_stable_repo_names(ctx.label, external_repos(app_files.to_list()))
    symlinks = {}
    for name, _, f in _bin_targets(app_files, bin_links):
        symlinks["node_modules/.bin/" + name] = f
    plain = []
    mappings = module_mappings.to_list()
    for f in app_files.to_list():
        p = third_party_path(f)
        if p != None:
            symlinks[p] = f

            # rules_js links packages with unresolved symlinks (`declare_symlink`). Bazel writes a symlink's target into
            # the runfiles manifest by reading it from disk, but the manifest action waits only for the symlinks among
            # the runfiles' `files`, not `symlinks`: listed there too (for //:node_modules/x at the same path), it
            # waits for them instead of failing with FileNotFoundException when both run in one build (issue #40).
            if _may_be_package_link(f, p):
                plain.append(f)
        elif is_app_file(f):
            plain.append(f)
            if f.short_path.startswith("../"):
                symlinks[first_party_path(f)] = f
            for dest in linked_module_paths(f, mappings):
                symlinks[dest] = f
    for f in runtime_files:
        symlinks[runtime_path(f)] = f
    root = {"package.json": root_package_json} if root_package_json else {}
    return ctx.runfiles(files = plain, symlinks = symlinks, root_symlinks = root)
