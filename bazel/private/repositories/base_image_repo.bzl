"""pipeline_base_image: a base image pulled from a registry, pinned by digest, as an OCI layout."""

load(":repository_cli.bzl", "LAYER_HANDLING_DOC", "NODE_RUNTIME_DOC", "PULL_ENVIRON", "check_digest", "check_layer_handling", "layout_build", "node_runtime_labels", "pull_into")

def _pull_impl(rctx):
    check_digest(rctx, "digest", rctx.attr.digest)
    shallow = check_layer_handling(rctx)
    pull_into(rctx, rctx.attr.registry, rctx.attr.repository, rctx.attr.digest, "image", shallow = shallow)

    rctx.file("image/BUILD.bazel", layout_build(node_runtime_labels("{}(name = {}): `node`".format(rctx.attr._kind, repr(rctx.attr.name)), rctx.attr.node)))
    rctx.file("BUILD.bazel", "")

pipeline_base_image = repository_rule(
    implementation = _pull_impl,
    doc = """Pulls an image pinned by digest into an OCI layout: `@<name>//image` (with `layer_handling = "shallow"`,
without its layers). Credentials come from the same
chain as pushes (docker config.json...). `mirror` or `$PIPELINE_BASE_MIRROR` (a registry host) replaces the
registry, keeping repository and digest, so the digest check still holds.""",
    attrs = {
        "registry": attr.string(mandatory = True, doc = "Registry host, e.g. \"index.docker.io\"."),
        "repository": attr.string(mandatory = True, doc = "Repository, e.g. \"library/node\"."),
        "digest": attr.string(mandatory = True, doc = "Manifest or index digest (an index is resolved to `platform`)."),
        "platform": attr.string(default = "linux/amd64", doc = "os/arch picked from a multi-platform index."),
        "platforms": attr.string_list(doc = "Instead of `platform`: keep a multi-platform index of these platforms (`os/arch[/variant]`), the base of `pipeline(platforms = ...)`."),
        "mirror": attr.string(doc = "A registry host to pull from instead of `registry`."),
        "insecure": attr.bool(default = False, doc = "Allow plain HTTP to a non-loopback registry."),
        "layer_handling": attr.string(default = "eager", doc = LAYER_HANDLING_DOC),
        "node": attr.string_list(doc = NODE_RUNTIME_DOC),
        "_kind": attr.string(default = "pipeline_base_image"),
    },
    environ = PULL_ENVIRON,
)
