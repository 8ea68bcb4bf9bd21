"""The TypeScript compile action every rule shares (ts_compile, ts_library, pipeline_app).

What the action reads, and nothing else: the target's sources, its `ts_library` deps' declarations, the type surface
of npm packages (package.json files and .d.ts, `NpmPackageInfo.types`), the typescript package and Node's types, and
the tsc runner (`tsc_worker.js` and the `worker_protocol.js` it requires). The runner works one-shot or as a persistent Bazel worker (proto protocol) that
keeps an incremental program per target; both write exactly the declared outputs, byte for byte the same.
"""

load(":labels.bzl", "target_display_label")
load(":providers.bzl", "NpmPackageInfo", "TsLibraryInfo")
load(":tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS")

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

def compiler_files(ctx):
    """The compiler a TsCompile action (and the compiler snapshot, tsc_snapshot.bzl) runs, from `TSC_ATTRS`.

    Args:
      ctx: the rule context of a target with `TSC_ATTRS`.

    Returns:
      struct(typescript_js: File, typescript: depset, types_node: depset, tools_root: the node_modules directory
      holding @types/node, execroot-relative).
    """
    types_node = ctx.attr._types_node[NpmPackageInfo] if NpmPackageInfo in ctx.attr._types_node else None
    return struct(
        typescript_js = _pick(ctx.attr._typescript, "/typescript/lib/typescript.js", "_typescript"),
        typescript = ctx.attr._typescript[DefaultInfo].files,
        types_node = types_node.types if types_node else ctx.attr._types_node[DefaultInfo].files,
        tools_root = types_node.root if types_node else _node_modules_root(_pick(ctx.attr._types_node, "/package.json", "_types_node")),
    )

def ts_compile_action(ctx, srcs, deps, declaration, tsconfig = None, runtime_types = None):
    """Declares the outputs and the TsCompile action.

    Args:
      ctx: the rule context.
      srcs: list of source Files (.ts compiled, others passed through).
      deps: list of targets compiled against (see `compile_inputs`).
      declaration: whether to emit .d.ts files.
      tsconfig: a tsconfig.json File to extend, or None.
      runtime_types: a File of declarations for the runtime library, or None.

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

    dep_inputs, user_roots, mappings = compile_inputs(deps)
    compiler = compiler_files(ctx)
    typescript = compiler.typescript
    ts_lib = compiler.typescript_js
    tools_root = compiler.tools_root
    types_node_files = compiler.types_node

    cfg = ctx.actions.declare_file(ctx.label.name + ".tsconfig.json")
    up = "/".join([".."] * len(cfg.dirname.split("/")))

    # `paths` entries are relative to baseUrl (the execroot).
    paths = {}
    for name, pkg in sorted(mappings.to_list()):
        if name in paths:
            fail("{}: two ts_library deps have module_name {}".format(ctx.label, repr(name)))
        paths[name] = [ctx.bin_dir.path + "/" + pkg]
        paths[name + "/*"] = [ctx.bin_dir.path + "/" + pkg + "/*"]
    if user_roots:
        paths["*"] = [r + "/*" for r in user_roots] + [r + "/@types/*" for r in user_roots]
    if runtime_types:
        paths["@rules_pipeline/runtime"] = [runtime_types.path[:-len(".d.ts")]]
    options = {
        "target": "ES2022",
        "module": "commonjs",
        "moduleResolution": "node",
        "esModuleInterop": True,
        "skipLibCheck": True,
        "strict": True,
        "declaration": declaration,
        "preserveSymlinks": True,
        "rootDir": up,
        # Sources, and other packages' outputs, form one tree: `import "../lib"` finds lib's .d.ts in bazel-bin.
        "rootDirs": [up, up + "/" + ctx.bin_dir.path],
        "outDir": up + "/" + ctx.bin_dir.path,
        "baseUrl": up,
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
    config = {"compilerOptions": options, "files": [up + "/" + f.path for f in ts_srcs], "include": []}
    inputs = [cfg]
    if tsconfig:
        config["extends"] = up + "/" + tsconfig.path
        inputs.append(tsconfig)
    ctx.actions.write(cfg, json.encode(config))
    if runtime_types:
        inputs.append(runtime_types)

    # Bazel workers take their arguments from a flag file (the last argument, `@file`).
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--typescript", ts_lib.path)
    args.add("--project", cfg.path)
    shown = target_display_label(ctx)
    args.add("--label", shown)
    args.add_all(js_outs + dts_outs, before_each = "--expect")
    npm_repos = _npm_repos(deps)
    args.add_all(npm_repos, before_each = "--npm-repo")
    if not npm_repos:
        args.add_all(_linked_node_modules(user_roots, ctx.bin_dir.path), before_each = "--npm-link")

    # `--@rules_pipeline//bazel:tsc_snapshot`: one-shot compiles start from the compiler snapshot (tsc_snapshot.bzl).
    snapshot = ctx.files._tsc_snapshot
    if snapshot:
        args.add("--snapshot", snapshot[0].path)
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._tsc_worker.path, args],
        inputs = depset(inputs + ts_srcs + passthrough + snapshot, transitive = [dep_inputs, types_node_files]),
        # Tools are part of a worker's key: a new compiler or runner starts new workers.
        tools = depset([ctx.file._tsc_worker, ctx.file._worker_protocol], transitive = [typescript]),
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
    )
    outs = js + dts + passthrough
    runfiles = ctx.runfiles(files = js + passthrough)
    for d in ctx.attr.deps:
        runfiles = runfiles.merge(d[DefaultInfo].default_runfiles).merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
    return [DefaultInfo(files = depset(outs), runfiles = runfiles)]

# The attributes of every rule that compiles TypeScript with `ts_compile_action`.
TS_ATTRS = dict({
    "tsconfig": attr.label(allow_single_file = [".json"], doc = "A tsconfig.json whose compilerOptions apply (extended). Default: the workspace-wide one given to `pipeline_dependencies(tsconfig = ...)`, if any. Without a `lib` in it, the lib is ES2022 without the DOM (Node's globals come from @types/node); `\"lib\": [\"ES2022\", \"DOM\"]` adds the DOM."),
    "_default_tsconfig": attr.label(default = "@rules_pipeline//bazel/private:default_tsconfig", allow_files = True),
    "_runtime_types": attr.label(default = "@rules_pipeline//:runtime_types", allow_single_file = True, cfg = "exec"),
}, **dict(BUILD_TOOL_ATTRS, **TSC_ATTRS))
