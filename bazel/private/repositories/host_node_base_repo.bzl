"""pipeline_host_node_base: a base image made of the host's Node runtime, as an OCI layout."""

load(":repo_cache.bzl", "repo_cache_dir")
load(":repository_cli.bzl", "layout_build", "run_cli_in_repository")

def _host_node_impl(rctx):
    # Track the host Node's version so that a Node upgrade rebuilds the base.
    rctx.read(rctx.path(Label("@rules_pipeline_node//:version.txt")))
    rctx.report_progress("building a base image from the host's Node")
    node = rctx.path(Label("@rules_pipeline_node//:bin/node"))

    # Every new output base fetches this repository again, and building the layout gzips the node binary (seconds):
    # the CLI keeps it in the cache root's bases/, keyed by the content of everything the layout holds (node, its
    # shared libraries, the CA bundle), so a hit is the layout a build would write (src/base/host-node-cache.ts).
    # PIPELINE_REPO_CACHE=off, which turns off the repository cache, builds it here too.
    args = ["base", "host-node", "--output", "image", "--node", str(node.realpath)]
    if repo_cache_dir(rctx) == None:
        args.append("--no-cache")
    result = run_cli_in_repository(rctx, args, "building the host-node base image")

    # A Node past its end of life (the CLI's table, src/base/node-releases.ts): said at fetch time, since every image
    # built on this base ships it.
    for line in result.stderr.splitlines():
        if line.startswith("warning: "):
            # buildifier: disable=print
            print("@{}: {}".format(rctx.attr.name, line[len("warning: "):]))
    rctx.file("image/BUILD.bazel", layout_build())
    rctx.file("BUILD.bazel", "")

pipeline_host_node_base = repository_rule(
    implementation = _host_node_impl,
    doc = """A base image made of the host's `node` binary and the shared libraries it loads (plus /etc/passwd,
/tmp and CA certificates): `@<name>//image`. Not hermetic: it is as reproducible as the host's Node install.
It needs no registry, which is why examples and tests use it.""",
    attrs = {},
)
