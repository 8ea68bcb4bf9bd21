"""pipeline_tools_repository: rules_pipeline's CLI compiled at fetch time, for repository rules."""

def _tools_impl(rctx):
    root = rctx.path(Label("@rules_pipeline//:tsconfig.json")).dirname
    node = rctx.path(Label("@rules_pipeline_node//:bin/node"))
    tsc = rctx.path(Label("@rules_pipeline_npm//:node_modules/typescript/lib/tsc.js"))
    types_root = rctx.path(Label("@rules_pipeline_npm//:package.json")).dirname
    rctx.report_progress("compiling rules_pipeline's tools")
    rctx.file("tsconfig.json", json.encode({
        "extends": str(root) + "/tsconfig.json",
        "compilerOptions": {
            "rootDir": str(root),
            "outDir": str(rctx.path("dist")),
            "typeRoots": [str(types_root) + "/node_modules/@types"],
            "baseUrl": str(root),
            "paths": {"*": [str(types_root) + "/node_modules/*"]},
            "declaration": False,
        },
        "include": [str(root) + "/src/**/*.ts", str(root) + "/tools/**/*.ts"],
        "exclude": [str(root) + "/src/**/*.test.ts"],
    }))
    result = rctx.execute([str(node), str(tsc), "-p", "tsconfig.json", "--pretty", "false"], quiet = True, timeout = 600)
    if result.return_code != 0:
        fail("compiling rules_pipeline's tools failed:\n" + result.stdout + result.stderr)
    rctx.file("BUILD.bazel", 'exports_files(glob(["dist/**"]), visibility = ["//visibility:public"])\n')

pipeline_tools_repository = repository_rule(
    implementation = _tools_impl,
    doc = "rules_pipeline's CLI compiled at fetch time, for repository rules (build actions use //:pipeline_cli).",
    attrs = {},
)
