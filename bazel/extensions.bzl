"""bzlmod extension: the same repository rules as WORKSPACE's pipeline_dependencies() and base_images().

Not exercised on our machines (Bazel 4.2 has no bzlmod): kept deliberately thin so it cannot drift from the
WORKSPACE path, which the tests cover.
"""

load("//bazel/private:base_image_repo.bzl", "pipeline_tools_repository")
load("//bazel/private:bases.bzl", "declare_base_images")
load("//bazel/private:node_repo.bzl", "pipeline_node_repository")
load("//bazel/private:npm_repo.bzl", "npm_dependencies")

_npm = tag_class(attrs = {
    "name": attr.string(mandatory = True, doc = "Repository name, e.g. \"npm\"."),
    "package_json": attr.label(mandatory = True, doc = "package.json"),
    "lockfile": attr.label(mandatory = True, doc = "package-lock.json"),
    "omit_dev": attr.bool(default = False, doc = "Skip devDependencies."),
})

_config = tag_class(attrs = {
    "node_path": attr.string(doc = "Node binary to use instead of the host's node on PATH."),
    "base_mirror": attr.string(doc = "Registry host to pull the worker bases from."),
})

def _impl(mctx):
    node_path = ""
    mirror = ""
    for mod in mctx.modules:
        for cfg in mod.tags.config:
            node_path = node_path or cfg.node_path
            mirror = mirror or cfg.base_mirror
    pipeline_node_repository(name = "rules_pipeline_node", node_path = node_path)
    npm_dependencies(
        name = "rules_pipeline_npm",
        package_json = "//bazel/npm:package.json",
        lockfile = "//bazel/npm:package-lock.json",
    )
    pipeline_tools_repository(name = "rules_pipeline_tools")
    declare_base_images(mirror = mirror)
    for mod in mctx.modules:
        for npm in mod.tags.npm:
            npm_dependencies(name = npm.name, package_json = npm.package_json, lockfile = npm.lockfile, omit_dev = npm.omit_dev)

pipeline = module_extension(
    implementation = _impl,
    tag_classes = {"npm": _npm, "config": _config},
)
