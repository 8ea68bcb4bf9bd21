"""bzlmod: the `pipeline` module extension (Bazel >= 6), the same repository rules as WORKSPACE's
`pipeline_dependencies()`, `base_images()` and `npm_dependencies()`.

    pipeline = use_extension("@rules_pipeline//bazel:extensions.bzl", "pipeline")
    pipeline.npm(name = "npm", package_json = "//:package.json", lockfile = "//:package-lock.json")
    use_repo(pipeline, "npm", "pipeline-host-node", "pipeline-worker-base", "pipeline-worker-cuda")

Thin on purpose: the decisions (duplicate and reserved names, root-only config, what the root module imports) are
in private/repositories/extension_logic.bzl, which Bazel 4.2.3 tests with a fake module_ctx. Bazel >= 6 itself never ran this
file on the project's machines.
"""

load("//bazel/private/npm:npm_repo.bzl", "npm_dependencies")
load("//bazel/private/repositories:bases.bzl", "BASE_IMAGE_RULES")
load("//bazel/private/repositories:config_repo.bzl", "pipeline_config_repository")
load("//bazel/private/repositories:extension_logic.bzl", "CONFIG_TAG_ATTRS", "NPM_TAG_ATTRS", "metadata", "plan")
load("//bazel/private/repositories:node_repo.bzl", "pipeline_node_repository")
load("//bazel/private/repositories:tools_repo.bzl", "pipeline_tools_repository")

_RULES = dict(BASE_IMAGE_RULES, **{
    "npm_dependencies": npm_dependencies,
    "pipeline_config_repository": pipeline_config_repository,
    "pipeline_node_repository": pipeline_node_repository,
    "pipeline_tools_repository": pipeline_tools_repository,
})

def _impl(module_ctx):
    result = plan(module_ctx)
    for warning in result.warnings:
        print("WARNING: " + warning)  # buildifier: disable=print
    if result.error:
        fail(result.error)
    for repo in result.repos:
        _RULES[repo.rule](name = repo.name, **repo.attrs)
    return metadata(module_ctx, result)

pipeline = module_extension(
    implementation = _impl,
    doc = "Node, the tools' npm packages, the worker base images and your npm packages (`npm` tags).",
    tag_classes = {
        "npm": tag_class(attrs = NPM_TAG_ATTRS, doc = "An npm_dependencies repository (one per `name`)."),
        "config": tag_class(attrs = CONFIG_TAG_ATTRS, doc = "Settings read from the root module only."),
    },
)
