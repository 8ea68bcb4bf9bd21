"""pipeline_app: the pipeline's program (compiled entry, sources, data, deps) as one set of files."""

load("//bazel/private/common:labels.bzl", "target_display_label")
load("//bazel/private/common:providers.bzl", "NpmPackageInfo", "PipelineAppInfo", "TsLibraryInfo")
load("//bazel/private/npm:npm_package.bzl", "npm_lockfiles")
load("//bazel/private/typescript:ts_compile_action.bzl", "TS_ATTRS", "ts_compile_action", "tsconfig_of")

_DOC = """Compiles `entry` and `srcs` (TypeScript or JavaScript) and gathers `data` and `deps` with their runfiles.

Usually created by the `pipeline` macro as `<name>_app`.
"""

def _pipeline_app_impl(ctx):
    if ctx.file.entry.owner.package != ctx.label.package or ctx.file.entry.owner.workspace_name != ctx.label.workspace_name:
        fail("{}: `entry` must be a file of package //{}, got {}".format(target_display_label(ctx), ctx.label.package, ctx.file.entry.owner))
    entry_src = ctx.file.entry
    if entry_src.extension not in ("ts", "mts", "cts", "js", "cjs", "mjs"):
        fail("{}: `entry` must be a .ts or .js file, got {}".format(target_display_label(ctx), repr(entry_src.basename)))
    srcs = [entry_src] + [f for f in ctx.files.srcs if f != entry_src]
    js, _, passthrough = ts_compile_action(ctx, srcs, ctx.attr.deps, False, tsconfig_of(ctx), ctx.file._runtime_types, ctx.files.data)
    entry = None
    stem = entry_src.basename[:-(len(entry_src.extension) + 1)]
    for f in js + passthrough:
        if f.dirname.endswith(entry_src.dirname) and f.basename[:-(len(f.extension) + 1)] == stem and f.extension in ("js", "cjs", "mjs"):
            entry = f
    if entry == None:
        fail("{}: no compiled output for `entry` {}".format(target_display_label(ctx), entry_src.short_path))
    transitive = [depset(ctx.files.data)]
    for d in ctx.attr.deps + ctx.attr.data:
        transitive.append(d[DefaultInfo].files)
        transitive.append(d[DefaultInfo].default_runfiles.files)
    files = depset(js + passthrough, transitive = transitive)
    runtime = ctx.attr._runtime_js[DefaultInfo].files.to_list()
    return [
        DefaultInfo(files = depset([entry])),
        PipelineAppInfo(
            entry = entry,
            files = files,
            runtime = runtime,
            module_mappings = depset(transitive = [d[TsLibraryInfo].module_mappings for d in ctx.attr.deps if TsLibraryInfo in d]),
            bin_links = depset(transitive = [d[TsLibraryInfo].npm_bin_links for d in ctx.attr.deps if TsLibraryInfo in d] +
                                            [d[NpmPackageInfo].bin_links for d in ctx.attr.deps if NpmPackageInfo in d]),
            npm_lockfiles = npm_lockfiles(ctx.attr.deps + ctx.attr.data),
        ),
    ]

pipeline_app = rule(
    implementation = _pipeline_app_impl,
    doc = _DOC,
    attrs = dict({
        "entry": attr.label(mandatory = True, allow_single_file = True, doc = "The launch script: a .ts or .js file in this package."),
        "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts", ".cts", ".js", ".cjs", ".mjs", ".json"], doc = "Other sources of this package."),
        "deps": attr.label_list(allow_files = True, doc = "`ts_library` targets, npm packages (`@npm//:node_modules/x`), rules_js targets or any target: their files and runfiles are part of the program."),
        "data": attr.label_list(allow_files = True, doc = "Files the program reads at run time."),
        "display_name": attr.string(doc = "The name messages show for this target (the compile progress message, the compiler's hints) instead of its own, in the same package: the `pipeline` macro sets it to the pipeline's name, so that `etl_app` is shown as `//pkg:etl`, the target the user declared."),
        "_runtime_js": attr.label(default = "@rules_pipeline//:runtime_files", cfg = "exec"),
    }, **TS_ATTRS),
)
