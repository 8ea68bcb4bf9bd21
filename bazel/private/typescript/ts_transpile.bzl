"""ts_transpile: TypeScript files to JavaScript and declarations, file by file, without a type-check (rules_pipeline's runtime)."""

load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS", "bundle_files")

def _ts_transpile_impl(ctx):
    typescript = [f for f in ctx.files._typescript if f.path.endswith("/typescript/lib/typescript.js")]
    if len(typescript) != 1:
        fail("ts_transpile {}: `_typescript` has no typescript/lib/typescript.js".format(ctx.label))
    arguments = [ctx.file._transpiler.path, typescript[0].path]
    outputs = []
    for src in ctx.files.srcs:
        if not src.basename.endswith(".ts") or src.basename.endswith(".d.ts"):
            fail("ts_transpile {}: `srcs` must hold .ts source files, got {}".format(ctx.label, repr(src.short_path)))
        if not src.is_source or src.owner.package != ctx.label.package or src.owner.workspace_name != ctx.label.workspace_name:
            fail("ts_transpile {}: `srcs` must hold source files of the target's package, got {}".format(ctx.label, src.owner))
        stem = src.owner.name[:-len(".ts")]
        js = ctx.actions.declare_file(stem + ".js")
        dts = ctx.actions.declare_file(stem + ".d.ts")
        arguments.extend([src.path, js.path, dts.path])
        outputs.extend([js, dts])

    # One process for all of them: a Node start and the compiler's load (~0.3 s of CPU) per action, where a file's
    # transpile is milliseconds; each file's bytes are what a run of its own writes (src/tsc/transpile.ts).
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = arguments,
        inputs = ctx.files.srcs,
        tools = depset([typescript[0]], transitive = [bundle_files(ctx.attr._transpiler)]),
        outputs = outputs,
        mnemonic = "TsTranspile",
        progress_message = "Transpiling TypeScript {}".format(ctx.label),
    )
    return [DefaultInfo(files = depset(outputs))]

ts_transpile = rule(
    implementation = _ts_transpile_impl,
    doc = """Transpiles TypeScript files to `.js` and `.d.ts`, file by file, in one action (TypeScript's
`transpileModule` and `transpileDeclaration`): no program, no type-check, so it reads only the file and the compiler (no `@types`).
For rules_pipeline's runtime library, which the project's CI type-checks; its bytes equal tsc's
(test/unit/ts-transpile.test.ts). The file's exports need explicit types (`isolatedDeclarations`).""",
    attrs = {
        "srcs": attr.label_list(mandatory = True, allow_empty = False, allow_files = [".ts"], doc = "The TypeScript files, in this package."),
        "_node": BUILD_TOOL_ATTRS["_node"],
        "_typescript": TSC_ATTRS["_typescript"],
        # src/tsc/transpile.ts, bundled (BUILD.bazel).
        "_transpiler": attr.label(default = "@rules_pipeline//:ts_transpiler", allow_single_file = True, cfg = "exec"),
    },
)
