"""The compiler snapshot of one-shot TsCompile actions: TypeScript loaded, the default lib and @types/node parsed.

A V8 startup snapshot made by the exec configuration's Node (src/tsc/snapshot.ts, bundled as
`@rules_pipeline//:tsc_snapshot_builder`, says what it holds and how a compile checks it). A compile that runs one-shot (sandboxed, on remote executors, with workers off) starts from
it for about half the CPU (bench P17); a worker loads the compiler once and does not use it. Only with
`--@rules_pipeline//bazel:tsc_snapshot` (bazel/BUILD.bazel): without it a first build runs none of the rules' own
actions. Its bytes differ from run to run (V8 seeds its hashes at random), so a remote cache is what shares it; the
compiled outputs are the same with or without it.
"""

load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS", "bundle_files")
load(":ts_compile_action.bzl", "compiler_files")

def _tsc_snapshot_impl(ctx):
    compiler = compiler_files(ctx)
    blob = ctx.actions.declare_file(ctx.label.name + ".blob")
    args = ctx.actions.args()
    args.add("--snapshot-blob", blob)
    args.add("--build-snapshot", ctx.file._builder)
    args.add("--typescript", compiler.typescript_dir + "/lib/typescript.js")
    args.add("--types-root", compiler.tools_root + "/@types")
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [args],
        inputs = depset(transitive = [bundle_files(ctx.attr._builder), compiler.typescript, compiler.types_node]),
        outputs = [blob],
        mnemonic = "TsSnapshot",
        progress_message = "Making the TypeScript compiler snapshot {}".format(ctx.label),
    )
    return [DefaultInfo(files = depset([blob]))]

# Node, the compiler's packages and the builder only: not the CLI of BUILD_TOOL_ATTRS nor the runner of TSC_ATTRS (the
# snapshot starts whichever runner the compile names, src/tsc/snapshot.ts).
_ATTRS = {
    "_builder": attr.label(default = "@rules_pipeline//:tsc_snapshot_builder", allow_single_file = True, cfg = "exec"),
    "_node": BUILD_TOOL_ATTRS["_node"],
    "_typescript": TSC_ATTRS["_typescript"],
    "_types_node": TSC_ATTRS["_types_node"],
}

tsc_snapshot = rule(
    implementation = _tsc_snapshot_impl,
    doc = "The TypeScript compiler snapshot one-shot TsCompile actions start from (`--@rules_pipeline//bazel:tsc_snapshot`).",
    attrs = _ATTRS,
)
