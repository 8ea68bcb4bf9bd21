"""Public: the repositories rules_pipeline needs, and `npm_dependencies` for your own npm packages.

    load("@rules_pipeline//bazel:repositories.bzl", "pipeline_dependencies")
    pipeline_dependencies()
"""

load("//bazel/private/npm:npm_repo.bzl", _npm_dependencies = "npm_dependencies")
load("//bazel/private/repositories:config_repo.bzl", "pipeline_config_repository")
load("//bazel/private/repositories:node_repo.bzl", _pipeline_node_repository = "pipeline_node_repository")
load("//bazel/private/repositories:tools_repo.bzl", "pipeline_tools_repository")

npm_dependencies = _npm_dependencies
pipeline_node_repository = _pipeline_node_repository

def pipeline_dependencies(node_path = None, tsconfig = None, typescript = None):
    """Declares the repositories rules_pipeline needs.

    Node (`@rules_pipeline_node`), the compiler's npm packages (`@rules_pipeline_npm`: TypeScript and
    Node's types), the tools (`@rules_pipeline_tools`: the release archive's prebuilt CLI, or in a checkout
    its fetch-time build from the packages of `@rules_pipeline_tools_npm`, which only a checkout fetches) and
    workspace-wide settings (`@rules_pipeline_config`). Existing repositories of those names win.

    Args:
      node_path: absolute path of a node binary to use instead of the host's `node` on PATH.
      tsconfig: label of a tsconfig.json (e.g. "//:tsconfig.json") whose compilerOptions every TypeScript
        target (`ts_library`, `pipeline`, `ts_compile`) extends unless it sets its own `tsconfig`.
      typescript: label of the `typescript` package every TypeScript target compiles with unless it sets its own
        `typescript`: your npm repository's (e.g. "@npm//:node_modules/typescript") or a rules_js one
        ("//:node_modules/typescript"). TypeScript 5.0 to 7.x (docs/typescript.md). Default: the rules' pinned 5.9.
    """
    existing = native.existing_rules()
    if "rules_pipeline_config" not in existing:
        pipeline_config_repository(name = "rules_pipeline_config", tsconfig = tsconfig or "", typescript = typescript or "")
    if "rules_pipeline_node" not in existing:
        _pipeline_node_repository(name = "rules_pipeline_node", node_path = node_path or "")
    if "rules_pipeline_npm" not in existing:
        _npm_dependencies(
            name = "rules_pipeline_npm",
            package_json = "@rules_pipeline//bazel/npm:package.json",
            lockfile = "@rules_pipeline//bazel/npm:package-lock.json",
        )
    if "rules_pipeline_tools_npm" not in existing:
        _npm_dependencies(
            name = "rules_pipeline_tools_npm",
            package_json = "@rules_pipeline//bazel/npm_tools:package.json",
            lockfile = "@rules_pipeline//bazel/npm_tools:package-lock.json",
        )
    if "rules_pipeline_tools" not in existing:
        pipeline_tools_repository(name = "rules_pipeline_tools")
