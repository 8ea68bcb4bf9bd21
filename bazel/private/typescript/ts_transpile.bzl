"""ts_transpile: one TypeScript file to JavaScript and declarations without a type-check (rules_pipeline's runtime)."""

load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS", "bundle_files")

def _ts_transpile_impl(ctx):
    src = ctx.file.src
    if not src.basename.endswith(".ts") or src.basename.endswith(".d.ts"):
        fail("ts_transpile {}: `src` must be a .ts source file, got {}".format(ctx.label, repr(src.short_path)))
    if not src.is_source or src.owner.package != ctx.label.package or src.owner.workspace_name != ctx.label.workspace_name:
        fail("ts_transpile {}: `src` must be a source file of the target's package, got {}".format(ctx.label, src.owner))
    stem = src.owner.name[:-len(".ts")]
    js = ctx.actions.declare_file(stem + ".js")
    dts = ctx.actions.declare_file(stem + ".d.ts")
    typescript = [f for f in ctx.files._typescript if f.path.endswith("/typescript/lib/typescript.js")]
    if len(typescript) != 1:
        fail("ts_transpile {}: `_typescript` has no typescript/lib/typescript.js".format(ctx.label))
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._transpiler.path, typescript[0].path, src.path, js.path, dts.path],
        inputs = [src],
        tools = depset([typescript[0]], transitive = [bundle_files(ctx.attr._transpiler)]),
        outputs = [js, dts],
        mnemonic = "TsTranspile",
        progress_message = "Transpiling TypeScript {}".format(ctx.label),
    )
    return [DefaultInfo(files = depset([js, dts]))]

ts_transpile = rule(
    implementation = _ts_transpile_impl,
    doc = """Transpiles one TypeScript file to `.js` and `.d.ts`, file by file (TypeScript's `transpileModule` and
`transpileDeclaration`): no program, no type-check, so it reads only the file and the compiler (no `@types`).
For rules_pipeline's runtime library, which the project's CI type-checks; its bytes equal tsc's
(test/unit/ts-transpile.test.ts). The file's exports need explicit types (`isolatedDeclarations`).""",
    attrs = {
        "src": attr.label(mandatory = True, allow_single_file = [".ts"], doc = "The TypeScript file, in this package."),
        "_node": BUILD_TOOL_ATTRS["_node"],
        "_typescript": TSC_ATTRS["_typescript"],
        # src/tsc/transpile.ts, bundled (BUILD.bazel).
        "_transpiler": attr.label(default = "@rules_pipeline//:ts_transpiler", allow_single_file = True, cfg = "exec"),
    },
)
