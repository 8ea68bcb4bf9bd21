"""ts_compile: compiles TypeScript sources with tsc (type-checked; errors fail the build with tsc's message)."""

load(":providers.bzl", "PIPELINE_TOOL_ATTRS")

_DOC = """Compiles `.ts` files to CommonJS `.js` files next to them in bazel-bin (and `.d.ts` with `declaration`).

`.js`, `.cjs`, `.mjs`, `.json` and `.d.ts` files in `srcs` are passed through unchanged. Imports of npm packages
resolve against every `node_modules` directory found in `deps`; `@rules_pipeline/runtime` resolves to the
runtime library. A `tsconfig` may be given: its options apply, except the ones this rule must own (`outDir`,
`rootDir`, `module`, `noEmit`...).
"""

_TS_EXTENSIONS = ["ts", "tsx", "mts", "cts"]

def _is_ts(f):
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
    return stem + (js_ext if ext == "js" else ".d.ts")

def ts_compile_action(ctx, srcs, deps, declaration, tsconfig = None, runtime_types = None):
    """Declares the outputs and the tsc action. Returns (js_outputs, dts_outputs, passthrough)."""
    ts_srcs = []
    js_outs = []
    dts_outs = []
    passthrough = []
    for f in srcs:
        if _is_ts(f):
            if f.owner.workspace_name != ctx.label.workspace_name or not f.owner.package.startswith(ctx.label.package):
                fail("{}: TypeScript source {} must be in package //{} (or below it); compile it in its own package and pass it in `deps`".format(
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

    dep_files = depset(transitive = [d[DefaultInfo].files for d in deps] + [d[DefaultInfo].default_runfiles.files for d in deps])
    tools_npm = ctx.attr._tools_npm[DefaultInfo].files
    roots = {}
    for f in dep_files.to_list():
        r = _node_modules_root(f)
        if r != None:
            roots[r] = True
    tools_root = None
    for f in tools_npm.to_list():
        tools_root = _node_modules_root(f)
        if tools_root:
            break

    cfg = ctx.actions.declare_file(ctx.label.name + ".tsconfig.json")
    up = "/".join([".."] * len(cfg.dirname.split("/")))
    user_roots = sorted(roots.keys())
    # `paths` entries are relative to baseUrl (the execroot).
    paths = {}
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
        "outDir": up + "/" + ctx.bin_dir.path,
        "baseUrl": up,
        "paths": paths,
        "typeRoots": [up + "/" + r + "/@types" for r in user_roots] + [up + "/" + tools_root + "/@types"],
        "types": ["node"],
        "noEmitOnError": True,
        "newLine": "lf",
        "sourceMap": False,
        "incremental": False,
        "composite": False,
        "noEmit": False,
        "emitDeclarationOnly": False,
    }
    config = {"compilerOptions": options, "files": [up + "/" + f.path for f in ts_srcs]}
    inputs = [cfg]
    if tsconfig:
        config["extends"] = up + "/" + tsconfig.path
        inputs.append(tsconfig)
    ctx.actions.write(cfg, json.encode(config))
    if runtime_types:
        inputs.append(runtime_types)

    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._tsc.path, "-p", cfg.path, "--pretty", "false"],
        inputs = depset(inputs + ts_srcs + passthrough, transitive = [dep_files, tools_npm]),
        outputs = js_outs + dts_outs,
        mnemonic = "TsCompile",
        progress_message = "Compiling TypeScript {}".format(ctx.label),
    )
    return js_outs, dts_outs, passthrough

def _ts_compile_impl(ctx):
    js, dts, passthrough = ts_compile_action(
        ctx,
        ctx.files.srcs,
        ctx.attr.deps,
        ctx.attr.declaration,
        ctx.file.tsconfig,
        getattr(ctx.file, "_runtime_types", None),
    )
    outs = js + dts + passthrough
    runfiles = ctx.runfiles(files = js + passthrough)
    for d in ctx.attr.deps:
        runfiles = runfiles.merge(d[DefaultInfo].default_runfiles).merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
    return [DefaultInfo(files = depset(outs), runfiles = runfiles)]

TS_ATTRS = dict({
    "tsconfig": attr.label(allow_single_file = [".json"], doc = "A tsconfig.json whose compilerOptions apply (extended)."),
    "_runtime_types": attr.label(default = "@rules_pipeline//:runtime_types", allow_single_file = True, cfg = "exec"),
}, **PIPELINE_TOOL_ATTRS)

ts_compile = rule(
    implementation = _ts_compile_impl,
    doc = _DOC,
    attrs = dict({
        "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts", ".cts", ".js", ".cjs", ".mjs", ".json"], doc = "Sources in this package."),
        "deps": attr.label_list(allow_files = True, doc = "npm packages (`@npm//:node_modules/x`) and other compiled or JS targets."),
        "declaration": attr.bool(default = False, doc = "Also emit .d.ts files."),
    }, **TS_ATTRS),
)

# Compiles rules_pipeline's own tools, which the runtime library's types come from (hence no `_runtime_types`).
ts_compile_bootstrap = rule(
    implementation = _ts_compile_impl,
    doc = "ts_compile without the runtime library's types: builds rules_pipeline's own tools.",
    attrs = dict({
        "srcs": attr.label_list(allow_files = True, doc = "Sources in this package."),
        "deps": attr.label_list(allow_files = True, doc = "npm packages."),
        "declaration": attr.bool(default = True, doc = "Also emit .d.ts files."),
        "tsconfig": attr.label(allow_single_file = [".json"], doc = "Extended tsconfig."),
    }, **{k: v for k, v in PIPELINE_TOOL_ATTRS.items() if k != "_cli"}),
)
