"""pipeline_image_full: a pipeline_image's OCI layout with every blob present, for consumers that read them all."""

load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:providers.bzl", "PipelineImageInfo")
load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "run_cli")

_DOC = """The OCI image layout of a `pipeline_image`, whole: every blob in the directory, for consumers that read each
blob from it, like rules_oci's `oci_push(image = ...)`, `oci_load(image = ...)` and `oci_image(base = ...)`.

A `pipeline_image` on a shallow base (`layer_handling = "shallow"`) lacks the base's layer blobs and records where
each is (`pipeline-remote-blobs.json`). This rule's action (`pipeline materialize`) fetches each of them from the
recorded source, streamed and checked against its digest and size, under a temporary name renamed when whole, and
hard-links (or copies) the layers and configs it has; index.json and the manifests are written again from their own
bytes, unchanged: the same digest.
No `pipeline-remote-blobs.json` is written. On an eager base
it is the same layout, made without a request.

It downloads the base's layers once (a remote or disk cache then keeps the output like any other): the action has
`requires-network` and, as `pipeline_image`'s, runs unsandboxed (it hard-links its input's blobs). A base in a
registry that needs credentials: the action reads them as `pipeline push` does, from the user's
`~/.docker/config.json` by default, or from the file `--action_env=DOCKER_CONFIG=DIR` (or `REGISTRY_AUTH_FILE`)
names. A layer no source serves fails the build with `E_BASE_LAYER_MISSING`, naming the layer, the base and where it
was asked.

The `pipeline` macro makes one for each image, `NAME_image_full` (`NAME_image_<name>_full` for image `<name>` of
`bases`), tagged `manual`: `bazel build //...` never downloads a shallow base's layers unless asked.

Usage:

    pipeline_image_full(
        name = "hello_image_full",
        image = ":hello_image",
    )

    oci_push(
        name = "hello_oci_push",
        image = ":hello_image_full",
        repository = "registry.example.com/examples/hello",
    )
"""

def _impl(ctx):
    info = ctx.attr.image[PipelineImageInfo]
    out = ctx.actions.declare_directory(ctx.label.name)
    args = [info.layout.path, "--output", out.path]
    if ctx.attr.insecure:
        args.append("--insecure")
    run_cli(
        ctx,
        "materialize",
        args,
        depset([info.layout]),
        [out],
        "PipelineImageFull",
        "Writing the whole layout of {}".format(display_label(ctx.attr.image.label)),
        # The base's layers come from its registry. The blobs the image holds are hard-linked, as pipeline_image
        # does (link(2) cannot cross the sandbox's mounts); the action reads only its declared input.
        execution_requirements = {"requires-network": "1", "no-sandbox": "1"},
    )
    return [
        DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out, info.digest])),
        OutputGroupInfo(digest = depset([info.digest]), sbom = depset([info.sbom])),
        # The push layout is the image's: the same manifests, the layers recorded where they are (cache or base registry).
        PipelineImageInfo(layout = out, push_layout = getattr(info, "push_layout", None), digest = info.digest, sbom = info.sbom, npm_lockfiles = info.npm_lockfiles),
    ]

pipeline_image_full = rule(
    implementation = _impl,
    doc = _DOC,
    attrs = dict({
        "image": attr.label(mandatory = True, providers = [PipelineImageInfo], doc = "The image (a `pipeline_image`) whose layout to write whole."),
        "insecure": attr.bool(default = False, doc = "Allow plain HTTP (and unverified TLS) to a non-loopback registry the base's layers come from."),
    }, **BUILD_TOOL_ATTRS),
)
