"""ts_compile: TypeScript compiled to CommonJS in one package (prefer `ts_library`)."""

load(":ts_compile_action.bzl", "TS_ATTRS", "compile_target")

_DOC = """Compiles `.ts` files to CommonJS `.js` files next to them in bazel-bin (and `.d.ts` with `declaration`).

`.js`, `.cjs`, `.mjs`, `.json` and `.d.ts` files in `srcs` are passed through unchanged. Imports of npm packages
resolve against the `node_modules` of `deps`; `@rules_pipeline/runtime` resolves to the runtime library. A
`tsconfig` may be given: its options apply, except the ones this rule must own (`outDir`, `rootDir`, `module`,
`noEmit`...). Prefer `ts_library`, which also carries declarations and `module_name` to its users.
"""

ts_compile = rule(
    implementation = compile_target,
    doc = _DOC,
    attrs = dict({
        "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts", ".cts", ".js", ".cjs", ".mjs", ".json"], doc = "Sources in this package."),
        "deps": attr.label_list(allow_files = True, doc = "npm packages (`@npm//:node_modules/x`), `ts_library` targets and other JS targets."),
        "declaration": attr.bool(default = False, doc = "Also emit .d.ts files."),
    }, **TS_ATTRS),
)
