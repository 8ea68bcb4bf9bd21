"""pipeline_base_image: a base image pulled from a registry, pinned by digest, as an OCI layout."""

load(":repository_cli.bzl", "PULL_ENVIRON", "check_digest", "layout_build", "pull_into")

_LAYER_HANDLING = ["eager", "shallow"]

def _pull_impl(rctx):
    check_digest(rctx, "digest", rctx.attr.digest)
    if rctx.attr.layer_handling not in _LAYER_HANDLING:
        fail("pipeline_base_image(name = {}): `layer_handling` must be one of {}, got {}".format(
            repr(rctx.attr.name),
            ", ".join([repr(v) for v in _LAYER_HANDLING]),
            repr(rctx.attr.layer_handling),
        ))
    shallow = rctx.attr.layer_handling == "shallow"
    pull_into(rctx, rctx.attr.registry, rctx.attr.repository, rctx.attr.digest, "image", shallow = shallow)
    rctx.file("image/BUILD.bazel", layout_build())
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
        "layer_handling": attr.string(default = "eager", doc = """What the repository holds of the base, as rules_img's `pull(layer_handling = ...)`.
`"eager"` (default): every layer, downloaded at fetch time. `"shallow"`: the index, manifest(s) and config(s) only;
`image/pipeline-remote-blobs.json` records each layer's descriptor and where it is (`registry/repository@digest`).
An image built on a shallow base has the same digest, holds none of the base's layers and carries that record on;
its `_push` mounts them (same registry) or streams them registry to registry, and `_binary` and
`pipeline run --image oci:DIR` fetch them when they run. `_load` and rules_oci's rules, which read every blob from the
directory, do not fetch them yet: use `"eager"` for those."""),
        "_kind": attr.string(default = "pipeline_base_image"),
    },
    environ = PULL_ENVIRON,
)
