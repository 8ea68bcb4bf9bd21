"""pipeline_host_node_base: a base image made of the host's Node runtime, as an OCI layout."""

load(":repository_cli.bzl", "layout_build", "run_cli_in_repository")

def _host_node_impl(rctx):
    # Track the host Node's version so that a Node upgrade rebuilds the base.
    rctx.read(rctx.path(Label("@rules_pipeline_node//:version.txt")))
    rctx.report_progress("building a base image from the host's Node")
    node = rctx.path(Label("@rules_pipeline_node//:bin/node"))
    run_cli_in_repository(rctx, ["base", "host-node", "--output", "image", "--node", str(node.realpath)], "building the host-node base image")
    rctx.file("image/BUILD.bazel", layout_build())
    rctx.file("BUILD.bazel", "")

pipeline_host_node_base = repository_rule(
    implementation = _host_node_impl,
    doc = """A base image made of the host's `node` binary and the shared libraries it loads (plus /etc/passwd,
/tmp and CA certificates): `@<name>//image`. Not hermetic: it is as reproducible as the host's Node install.
It needs no registry, which is why examples and tests use it.""",
    attrs = {},
)
