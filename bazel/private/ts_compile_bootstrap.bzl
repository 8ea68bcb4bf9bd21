"""ts_compile_bootstrap: ts_compile without the runtime library's types, for rules_pipeline's own tools
(which the runtime library's types come from)."""

load(":tools.bzl", "BUILD_TOOL_ATTRS", "TSC_ATTRS")
load(":ts_compile_action.bzl", "compile_target")

ts_compile_bootstrap = rule(
    implementation = compile_target,
    doc = "ts_compile without the runtime library's types: builds rules_pipeline's own tools.",
    attrs = dict({
        "srcs": attr.label_list(allow_files = True, doc = "Sources in this package."),
        "deps": attr.label_list(allow_files = True, doc = "npm packages."),
        "declaration": attr.bool(default = True, doc = "Also emit .d.ts files."),
        "tsconfig": attr.label(allow_single_file = [".json"], doc = "Extended tsconfig."),
        "_node": BUILD_TOOL_ATTRS["_node"],
    }, **TSC_ATTRS),
)
