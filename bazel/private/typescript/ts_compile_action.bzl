"""The TypeScript compile action every rule shares (ts_compile, ts_library, pipeline_app).

What the action reads, and nothing else: the target's sources, its `ts_library` deps' declarations, the type surface
of npm packages (package.json files and .d.ts, `NpmPackageInfo.types`), the typescript package and Node's types, and
the tsc runner (`@rules_pipeline//:tsc_worker`, src/tsc/ bundled into one file). The runner works one-shot or as a
persistent Bazel worker (proto protocol) that keeps an incremental program per target; both write exactly the declared
outputs, byte for byte the same.
"""

load("//bazel/private/common:labels.bzl", "target_display_label")
load("//bazel/private/common:providers.bzl", "NpmPackageInfo", "StringFlagInfo", "TsLibraryInfo")
load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS", "bundle_files")

_TS_EXTENSIONS = ["ts", "tsx", "mts", "cts"]

def is_ts_source(f):
    return f.extension in _TS_EXTENSIONS and not f.basename.endswith(".d.ts")

def _node_modules_root(f):
    """`external/npm/node_modules` for `external/npm/node_modules/x/y.js`, else None."""
    p = f.path
    if p.startswith("node_modules/"):
        return "node_modules"
    i = p.find("/node_modules/")
    if i < 0:
        return None
    return p[:i + len("/node_modules")]

def _out_name(f, ext):
    stem = f.basename[:-(len(f.extension) + 1)]
    js_ext = {"mts": ".mjs", "cts": ".cjs"}.get(f.extension, ".js")
    dts_ext = {"mts": ".d.mts", "cts": ".d.cts"}.get(f.extension, ".d.ts")
    return stem + (js_ext if ext == "js" else dts_ext)

def _pick(target, suffix, attr_name):
    for f in target[DefaultInfo].files.to_list():
        if f.path.endswith(suffix):
            return f
    fail("`{}`: {} has no file ending in {}".format(attr_name, target.label, suffix))

def _is_declaration(f):
    return f.basename.endswith(".d.ts") or f.basename.endswith(".d.mts") or f.basename.endswith(".d.cts")

def foreign_compile_inputs(target):
    """What compiling against a target of another ruleset (rules_js, rules_ts, a filegroup) reads.

    Such a target does not say which of its files are types, so: all of its files and runfiles (a rules_js
    `node_modules/<pkg>` link and the package store directory it points to, with its dependencies), plus the
    declarations its `OutputGroupInfo` names without making them default outputs: `types` (rules_ts `ts_project`'s
    .d.ts, rules_js `js_library`'s types) and the declarations in `transitive_typecheck` (rules_ts: those of the
    `ts_project` targets it depends on, which its own .d.ts import). Read through Bazel's own providers only, so that
    rules_pipeline loads nothing of rules_js or rules_ts.

    Args:
      target: a dep without `TsLibraryInfo` or `NpmPackageInfo`.

    Returns:
      (depset of Files, list of the exec paths of the node_modules directories among them).
    """
    transitive = [target[DefaultInfo].files, target[DefaultInfo].default_runfiles.files]
    if OutputGroupInfo in target:
        groups = target[OutputGroupInfo]
        types = getattr(groups, "types", None)
        if types != None:
            transitive.append(types)
        typecheck = getattr(groups, "transitive_typecheck", None)
        if typecheck != None:
            transitive.append(depset([f for f in typecheck.to_list() if _is_declaration(f)]))
    files = depset(transitive = transitive)
    roots = {}
    for f in files.to_list():
        r = _node_modules_root(f)
        if r != None:
            roots[r] = True
    return files, sorted(roots.keys())

def compile_inputs(deps):
    """What compiling against `deps` reads.

    Args:
      deps: list of targets (ts_library, npm_package or anything with files).

    Returns:
      (depset of Files, list of node_modules roots, depset of module mappings).
    """
    transitive = []
    roots = {}
    mappings = []
    for d in deps:
        if TsLibraryInfo in d:
            info = d[TsLibraryInfo]
            transitive.extend([info.declarations, info.npm_types])
            for r in info.npm_roots.to_list():
                roots[r] = True
            mappings.append(info.module_mappings)
        elif NpmPackageInfo in d:
            transitive.append(d[NpmPackageInfo].types)
            roots[d[NpmPackageInfo].root] = True
        else:
            files, foreign_roots = foreign_compile_inputs(d)
            transitive.append(files)
            for r in foreign_roots:
                roots[r] = True
    return depset(transitive = transitive), sorted(roots.keys()), depset(transitive = mappings)

def _npm_repos(deps):
    """Names of the npm_dependencies repositories among `deps`, for hints about missing packages.

    The names users write (`npm` in `@npm//:node_modules/ms`, `NpmPackageInfo.repo_name`), never the canonical ones
    bzlmod gives the repositories (`rules_pipeline~~pipeline~npm`)."""
    names = {}
    for d in deps:
        if NpmPackageInfo in d:
            name = getattr(d[NpmPackageInfo], "repo_name", "") or d.label.workspace_name
            if name:
                names[name] = True
    return sorted(names.keys())

def _linked_node_modules(roots, bin_dir):
    """Labels of the linked `node_modules` trees among `roots` (`//:node_modules` for `bazel-out/k8-fastbuild/bin/node_modules`, where rules_js's `npm_link_all_packages(name = "node_modules")` links a package), for hints about missing packages."""
    labels = []
    for r in roots:
        if r.startswith(bin_dir + "/") and not r.startswith(bin_dir + "/external/"):
            pkg = r[len(bin_dir) + 1:-len("node_modules")].rstrip("/")
            labels.append("//{}:node_modules".format(pkg))
    return labels

def _typescript_target(ctx):
    """The `typescript` package a target compiles with: its own `typescript`, else the workspace's, else the rules'."""
    chosen = getattr(ctx.attr, "typescript", None)
    if chosen == None:
        chosen = getattr(ctx.attr, "_default_typescript", None)
    return chosen if chosen != None else ctx.attr._typescript

def _typescript_dir(target, files, attr_name):
    """The execroot path of the `typescript` package directory among `files`, `target`'s files and runfiles.

    An `npm_dependencies` package has `.../node_modules/typescript/package.json` among its files; a rules_js
    `node_modules/typescript` target is the link (a directory) itself, with the package store in its runfiles."""
    files = files.to_list()
    for f in files:
        if f.path.endswith("/node_modules/typescript/package.json"):
            return f.dirname
    for f in files:
        if f.path.endswith("/node_modules/typescript"):
            return f.path
    fail("`{}`: {} is not the `typescript` npm package: none of its files is node_modules/typescript/package.json or a node_modules/typescript directory (name your npm repository's package, e.g. \"@npm//:node_modules/typescript\", or rules_js's \"//:node_modules/typescript\")".format(attr_name, target.label))

def compiler_files(ctx):
    """The compiler a TsCompile action (and the compiler snapshot, tsc_snapshot.bzl) runs.

    Args:
      ctx: the rule context of a target with `TSC_ATTRS` (and, for compiles, `TS_ATTRS`' `typescript`).

    Returns:
      struct(typescript_dir: the execroot path of the typescript package, typescript_label: its label as users write
      it, typescript: depset of its files, pinned: whether it is the rules' own (the compiler snapshot's),
      types_node: depset, tools_root: the node_modules directory holding @types/node, execroot-relative).
    """
    types_node = ctx.attr._types_node[NpmPackageInfo] if NpmPackageInfo in ctx.attr._types_node else None
    target = _typescript_target(ctx)
    attr_name = "typescript" if getattr(ctx.attr, "typescript", None) != None else "_typescript"
    typescript = depset(transitive = [target[DefaultInfo].files, target[DefaultInfo].default_runfiles.files])
    return struct(
        typescript_dir = _typescript_dir(target, typescript, attr_name),
        typescript_label = str(target.label),
        typescript = typescript,
        pinned = target.label == ctx.attr._typescript.label,
        types_node = types_node.types if types_node else ctx.attr._types_node[DefaultInfo].files,
        tools_root = types_node.root if types_node else _node_modules_root(_pick(ctx.attr._types_node, "/package.json", "_types_node")),
    )

def ts_compile_action(ctx, srcs, deps, declaration, tsconfig = None, runtime_types = None, data = []):
    """Declares the outputs and the TsCompile action.

    Args:
      ctx: the rule context.
      srcs: list of source Files (.ts compiled, others passed through).
      deps: list of targets compiled against (see `compile_inputs`).
      declaration: whether to emit .d.ts files.
      tsconfig: a tsconfig.json File to extend, or None.
      runtime_types: a File of declarations for the runtime library, or None.
      data: the target's data Files: the package.json files among them (and among `srcs`) are compile inputs.

    Returns:
      (js_outputs, dts_outputs, passthrough).
    """
    ts_srcs = []
    js_outs = []
    dts_outs = []
    passthrough = []
    for f in srcs:
        if is_ts_source(f):
            if f.owner.workspace_name != ctx.label.workspace_name or not f.owner.package.startswith(ctx.label.package):
                fail("{}: TypeScript source {} must be in package //{} (or below it); compile it in its own package (ts_library) and pass it in `deps`".format(
                    ctx.label,
                    f.short_path,
                    ctx.label.package,
                ))
            ts_srcs.append(f)
            js_outs.append(ctx.actions.declare_file(_out_name(f, "js"), sibling = f))
            if declaration:
                dts_outs.append(ctx.actions.declare_file(_out_name(f, "dts"), sibling = f))
        else:
            passthrough.append(f)
    if not ts_srcs:
        return [], [], passthrough
    package_jsons = [f for f in srcs + data if f.basename == "package.json"]

    dep_inputs, user_roots, mappings = compile_inputs(deps)
    compiler = compiler_files(ctx)
    tools_root = compiler.tools_root

    cfg = ctx.actions.declare_file(ctx.label.name + ".tsconfig.json")
    up = "/".join([".."] * len(cfg.dirname.split("/")))

    # `paths` entries are relative to the config file (no `baseUrl`: TypeScript 6 deprecates it, 7 removed it).
    paths = {}
    for name, pkg in sorted(mappings.to_list()):
        if name in paths:
            fail("{}: two ts_library deps have module_name {}".format(ctx.label, repr(name)))

        # The directory (resolved to its index under node10), then its index's declarations: `node16`, `nodenext` and
        # `bundler` look in no directory for a mapped path (ES modules).
        paths[name] = [up + "/" + ctx.bin_dir.path + "/" + pkg, up + "/" + ctx.bin_dir.path + "/" + pkg + "/index.d.ts"]
        paths[name + "/*"] = [up + "/" + ctx.bin_dir.path + "/" + pkg + "/*"]
    if runtime_types:
        paths["@rules_pipeline/runtime"] = [up + "/" + runtime_types.path]

    # What the rules own: where sources and outputs are, how packages are found, what is emitted. The rest (target,
    # module, moduleResolution, lib, strictness...) comes from tsconfig_defaults.json, then the user's tsconfig, which
    # the config extends in that order, so the user's module settings (ES modules: `nodenext`, `bundler`) win.
    options = {
        "declaration": declaration,
        "preserveSymlinks": True,
        "rootDir": up,
        # Sources, and other packages' outputs, form one tree: `import "../lib"` finds lib's .d.ts in bazel-bin.
        "rootDirs": [up, up + "/" + ctx.bin_dir.path],
        "outDir": up + "/" + ctx.bin_dir.path,
        "paths": paths,
        "typeRoots": [up + "/" + r + "/@types" for r in user_roots] + [up + "/" + tools_root + "/@types"],
        "types": ["node"],
        "noEmitOnError": True,
        "newLine": "lf",
        "sourceMap": False,
        "declarationMap": False,
        "inlineSourceMap": False,
        "incremental": False,
        "composite": False,
        "noEmit": False,
        "emitDeclarationOnly": False,
    }

    # `include: []` so that an extended tsconfig's `include` does not add files of its own.
    defaults = ctx.file._tsconfig_defaults
    extends = [up + "/" + defaults.path]
    inputs = [cfg, defaults]
    if tsconfig:
        extends.append(up + "/" + tsconfig.path)
        inputs.append(tsconfig)
    config = {"extends": extends, "compilerOptions": options, "files": [up + "/" + f.path for f in ts_srcs], "include": []}
    ctx.actions.write(cfg, json.encode(config))
    if runtime_types:
        inputs.append(runtime_types)

    # The package.json files among the target's files decide each source's module format under `node16`/`nodenext`
    # (`"type": "module"`), and the compile refuses CommonJS output for a `"type": "module"` package.
    inputs.extend([f for f in package_jsons if f not in passthrough])

    # Bazel workers take their arguments from a flag file (the last argument, `@file`).
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--typescript", compiler.typescript_dir)
    args.add("--typescript-label=" + compiler.typescript_label)
    args.add("--project", cfg.path)
    shown = target_display_label(ctx)
    args.add("--label", shown)
    if tsconfig:
        args.add("--tsconfig", tsconfig.path)
    args.add_all(js_outs + dts_outs, before_each = "--expect")

    # The deps' node_modules trees, which the compile sees as one `node_modules` at its root (src/tsc/compilers.ts
    # nodeModulesAt): bare imports resolve as Node resolves them, `exports` and `@types` included, whatever the
    # resolution mode. (A `paths` "*" mapping into them would not: under `bundler`, TypeScript 6 and 7's default, it
    # stops at a package's untyped .js instead of going on to its @types package.)
    args.add_all(user_roots, before_each = "--node-modules")
    npm_repos = _npm_repos(deps)
    args.add_all(npm_repos, before_each = "--npm-repo")
    if not npm_repos:
        args.add_all(_linked_node_modules(user_roots, ctx.bin_dir.path), before_each = "--npm-link")

    # `--@rules_pipeline//bazel:tsc_snapshot`: one-shot compiles start from the compiler snapshot (tsc_snapshot.bzl),
    # which holds the rules' own compiler: only compiles with that one use it.
    snapshot = ctx.files._tsc_snapshot if compiler.pinned else []
    if snapshot:
        args.add("--snapshot", snapshot[0].path)
    threads = ctx.attr._tsc_threads[StringFlagInfo].value
    if threads not in ("single", "compiler"):
        fail("--@rules_pipeline//bazel:tsc_threads must be single or compiler, got {}".format(repr(threads)))
    if threads != "single":
        # Only when set: the default's action keys stay what they were.
        args.add("--threads=" + threads)
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._tsc_worker.path, args],
        # The compiler is an input, not a tool: tools are part of a worker's key, and Bazel 7 keeps one idle worker
        # per mnemonic on a small machine, killing another key's to start its own, so targets compiled by two
        # compilers (5.9 and a target's own 7) started a new worker, and lost every kept program, at each switch
        # (issue #75 item 3: P9's two speeds on 7.7.1). One worker serves every compiler: it keeps each one's state,
        # loads a compiler whose files changed again (src/tsc/program-cache.ts), and Bazel restarts it for a new runner.
        inputs = depset(
            inputs + ts_srcs + passthrough + snapshot,
            transitive = [dep_inputs, compiler.types_node, compiler.typescript],
        ),
        # The runner is a tool: a new one (an edit of src/tsc/ in a checkout) is a new worker key, so new workers.
        tools = bundle_files(ctx.attr._tsc_worker),
        outputs = js_outs + dts_outs,
        mnemonic = "TsCompile",
        progress_message = "Compiling TypeScript {}".format(shown),
        execution_requirements = {"supports-workers": "1"},
    )
    return js_outs, dts_outs, passthrough

def tsconfig_of(ctx):
    """The target's `tsconfig`, else the workspace-wide one (`pipeline_dependencies(tsconfig = ...)`), else None.

    Args:
      ctx: the rule context of a target with `tsconfig`.

    Returns:
      A File or None.
    """
    if ctx.file.tsconfig:
        return ctx.file.tsconfig
    default = getattr(ctx.files, "_default_tsconfig", [])
    if len(default) > 1:
        fail("pipeline_dependencies(tsconfig = ...) must name one file, got {}".format([f.short_path for f in default]))
    return default[0] if default else None

def compile_target(ctx):
    """The implementation of `ts_compile`: compile `srcs` against `deps`.

    Args:
      ctx: the rule context.

    Returns:
      DefaultInfo with the outputs and, as runfiles, the .js files and the deps' files.
    """
    js, dts, passthrough = ts_compile_action(
        ctx,
        ctx.files.srcs,
        ctx.attr.deps,
        ctx.attr.declaration,
        tsconfig_of(ctx),
        getattr(ctx.file, "_runtime_types", None),
        getattr(ctx.files, "data", []),
    )
    outs = js + dts + passthrough
    runfiles = ctx.runfiles(files = js + passthrough)
    for d in ctx.attr.deps:
        runfiles = runfiles.merge(d[DefaultInfo].default_runfiles).merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
    return [DefaultInfo(files = depset(outs), runfiles = runfiles)]

# The attributes of every rule that compiles TypeScript with `ts_compile_action`.
TS_ATTRS = dict({
    "typescript": attr.label(cfg = "exec", doc = "The `typescript` npm package this target compiles with, e.g. `\"@npm//:node_modules/typescript\"` (`npm_dependencies`) or rules_js's `\"//:node_modules/typescript\"`: TypeScript 5.0 to 7.x (7.x runs its native compiler, the package's `@typescript/typescript-<os>-<arch>` dependency). Default: the workspace-wide one given to `pipeline_dependencies(typescript = ...)` / `pipeline.config(typescript = ...)`, else the rules' pinned 5.9. See docs/typescript.md."),
    "_default_typescript": attr.label(default = "@rules_pipeline//bazel/private:default_typescript", cfg = "exec"),
    "_tsconfig_defaults": attr.label(default = "@rules_pipeline//bazel/private/typescript:tsconfig_defaults.json", allow_single_file = True),
    "tsconfig": attr.label(allow_single_file = [".json"], doc = "A tsconfig.json whose compilerOptions apply (extended, after the rules' defaults: `target` ES2022, `module` commonjs, `lib` ES2022 without the DOM, `esModuleInterop`, `skipLibCheck`, `strict`). Its `module`/`moduleResolution` (e.g. `nodenext` for ES modules) and `lib` (`[\"ES2022\", \"DOM\"]` adds the DOM) win; the rules own where files are and what is emitted (docs/typescript.md). Default: the workspace-wide one given to `pipeline_dependencies(tsconfig = ...)`, if any."),
    "_default_tsconfig": attr.label(default = "@rules_pipeline//bazel/private:default_tsconfig", allow_files = True),
    "_runtime_types": attr.label(default = "@rules_pipeline//:runtime_types", allow_single_file = True, cfg = "exec"),
}, **dict(BUILD_TOOL_ATTRS, **TSC_ATTRS))
