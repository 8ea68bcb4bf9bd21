"""pipeline_node_on_base: a base image pinned by digest plus Node taken from a Node image, as an OCI layout."""

load(":repository_cli.bzl", "LAYER_HANDLING_DOC", "PULL_ENVIRON", "check_digest", "check_layer_handling", "layout_build", "pull_into", "run_cli_in_repository")

def _node_on_base_impl(rctx):
    check_digest(rctx, "digest", rctx.attr.digest)
    check_digest(rctx, "node_digest", rctx.attr.node_digest)

    # Shallow: the base's layers (a CUDA runtime's gigabytes) stay where they are; node is read from the Node image.
    pull_into(rctx, rctx.attr.registry, rctx.attr.repository, rctx.attr.digest, "_base", shallow = check_layer_handling(rctx))
    pull_into(rctx, rctx.attr.node_registry, rctx.attr.node_repository, rctx.attr.node_digest, "_node")
    rctx.report_progress("adding node to " + rctx.attr.repository)
    platform_args = []
    for p in rctx.attr.platforms:
        platform_args.extend(["--platform", p])
    run_cli_in_repository(rctx, ["base", "add-node", "--base", "_base", "--node", "_node", "--output", "image"] + platform_args, "adding node to the base")
    rctx.delete("_base")
    rctx.delete("_node")
    rctx.file("image/BUILD.bazel", layout_build())
    rctx.file("BUILD.bazel", "")

pipeline_node_on_base = repository_rule(
    implementation = _node_on_base_impl,
    doc = """A base image pinned by digest (e.g. NVIDIA's CUDA runtime) plus `/usr/local/bin/node` taken from a Node
image pinned by digest, so that it honours the image contract: `@<name>//image`. The node binary needs the base's
glibc and libstdc++.""",
    attrs = {
        "registry": attr.string(mandatory = True, doc = "Registry of the base, e.g. \"index.docker.io\"."),
        "repository": attr.string(mandatory = True, doc = "Repository of the base, e.g. \"nvidia/cuda\"."),
        "digest": attr.string(mandatory = True, doc = "Digest of the base (an index is resolved to `platform`)."),
        "node_registry": attr.string(mandatory = True, doc = "Registry of the Node image."),
        "node_repository": attr.string(mandatory = True, doc = "Repository of the Node image, e.g. \"library/node\"."),
        "node_digest": attr.string(mandatory = True, doc = "Digest of the Node image."),
        "platform": attr.string(default = "linux/amd64", doc = "os/arch picked from multi-platform indexes."),
        "platforms": attr.string_list(doc = "Instead of `platform`: a multi-platform index of these platforms (`os/arch[/variant]`), each platform's base plus that platform's node."),
        "mirror": attr.string(doc = "A registry host to pull both images from instead of their registries."),
        "insecure": attr.bool(default = False, doc = "Allow plain HTTP to a non-loopback registry."),
        "layer_handling": attr.string(default = "eager", doc = "Of the base (the Node image is always read whole: node is taken out of it). " + LAYER_HANDLING_DOC),
        "_kind": attr.string(default = "pipeline_node_on_base"),
    },
    environ = PULL_ENVIRON,
)
