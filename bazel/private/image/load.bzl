"""pipeline_load: images as a docker archive (output group `tarball`), and `bazel run` loads them into docker or podman."""

load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:providers.bzl", "PipelineImageInfo")
load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "cli_files", "declare_launcher", "rlocation", "run_cli", "runfiles_root_snippet")

_DOC = """Loads images into docker or podman, like rules_oci's `oci_load`.

`bazel build --output_groups=tarball //pkg:NAME_load` writes `NAME_load.tar`, a docker archive (`manifest.json`
with Config, RepoTags and Layers; blobs under `blobs/sha256/`) that `docker load -i` and `podman load -i` both read.
Its layers are the layout's gzip blobs, unchanged; its bytes are reproducible. On a shallow base
(`layer_handling = "shallow"`) the action fetches the base's layers from the recorded registry, checked against their
digests, into a temporary directory beside the archive (removed after) and writes them into it (it has `requires-network`; a registry's credentials are read as `pipeline push` reads
them: `~/.docker/config.json`, or `--action_env=DOCKER_CONFIG=DIR`), and fails with `E_BASE_LAYER_MISSING` naming
the layer, the base and where it asked when none serves it.

`bazel run //pkg:NAME_load` streams the same archive into `docker load` when a docker daemon answers, else
`podman load`, and prints each loaded `REGISTRY/REPOSITORY:TAG`. Arguments:
  `--loader docker|podman` (default `auto`),
  `--tag REGISTRY/REPOSITORY:TAG` or `--tag TAG` (repeatable; replaces `repo_tags`; a bare TAG keeps the repository).
The loader runs with your environment: `DOCKER_HOST`, `CONTAINERS_STORAGE_CONF` and `CONTAINERS_CONF` apply.

Several images (the `pipeline` macro's `bases`) go into one archive, sharing their common layers: the main image
("default") gets `repo_tags`, image NAME gets `<tag>-NAME`, as `NAME_push` tags them.

Usage:

    pipeline_load(
        name = "hello_load",
        images = {":hello_image": "default"},
        repo_tags = ["localhost:5000/examples/hello:dev"],
    )
"""

def validate_repo_tag(label, attr_name, t):
    """Fails naming the attribute unless `t` is `registry/repository:tag` (no digest).

    Args:
      label: the target's label, for the error message.
      attr_name: the attribute `t` comes from.
      t: the tag to check.
    """
    colon = t.rfind(":")
    bad = [c for c in t.elems() if not (c.isalnum() or c in "._-/:[]")]
    if not t or bad or "@" in t or colon <= t.rfind("/") or colon == len(t) - 1 or t.startswith("/"):
        fail("{}: `{}` entry should be REGISTRY/REPOSITORY:TAG (a tag, no digest). got: {}".format(label, attr_name, repr(t)))

def _impl(ctx):
    if not ctx.attr.images:
        fail("{}: `images` must name at least one pipeline_image".format(ctx.label))
    repo_tags = ctx.attr.repo_tags
    if not repo_tags:
        if not ctx.attr.registry or not ctx.attr.repository:
            fail("{}: set `repo_tags`, or `registry` and `repository` (the default tag is REGISTRY/REPOSITORY:latest). got: registry = {}, repository = {}".format(
                ctx.label,
                repr(ctx.attr.registry),
                repr(ctx.attr.repository),
            ))
        repo_tags = ["{}/{}:latest".format(ctx.attr.registry, ctx.attr.repository)]
    for t in repo_tags:
        validate_repo_tag(ctx.label, "repo_tags", t)

    layouts = []
    build_args = []
    run_args = []
    resolve = []  # bash: `rl VAR PATH` for each layout the launcher names
    by_name = {}
    for target, name in ctx.attr.images.items():
        if PipelineImageInfo not in target:
            fail("{}: `images`: {} is not a pipeline_image (it provides no PipelineImageInfo)".format(ctx.label, target.label))
        if not name or [c for c in name.elems() if not (c.isalnum() or c in "._-")]:
            fail("{}: `images`: image names become tag suffixes (TAG-NAME): letters, digits, \".\", \"_\", \"-\". got: {}".format(ctx.label, repr(name)))
        if name in by_name:
            fail("{}: `images`: two images are named {}".format(ctx.label, repr(name)))
        by_name[name] = target

    # The main image first, then the others by name: the archive's manifest.json lists them in this order.
    order = (["default"] if "default" in by_name else []) + sorted([n for n in by_name if n != "default"])
    for name in order:
        target = by_name[name]
        layout = target[PipelineImageInfo].layout
        layouts.append(layout)
        build_args.extend(["--image", "{}={}".format(name, layout.path)])
        resolve.append('rl _image{} "{}"'.format(len(resolve), rlocation(ctx, layout)))
        run_args.append('--image "{}=$_image{}"'.format(name, len(resolve) - 1))
    for t in repo_tags:
        build_args.extend(["--tag", t])
        run_args.append("--default-tag '{}'".format(t))

    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    run_cli(
        ctx,
        "tarball",
        build_args + ["--out", tarball.path],
        depset(layouts),
        [tarball],
        "PipelineTarball",
        "Writing docker archive of {}".format(display_label(ctx.label)),
        # On a shallow base, the base's layers come from its registry into the archive (pipeline_image_full's way).
        execution_requirements = {"requires-network": "1"},
    )

    exe = declare_launcher(ctx)
    ctx.actions.write(exe, "\n".join([
        "#!/usr/bin/env bash",
        "# Generated by rules_pipeline for {}. Finds the runfiles and hands over to `pipeline load`.".format(display_label(ctx.label)),
        "set -euo pipefail",
        runfiles_root_snippet(),
        'rl _node "{}"'.format(rlocation(ctx, ctx.file._node)),
        'rl _cli "{}"'.format(rlocation(ctx, ctx.file._cli)),
    ] + resolve + [
        'exec "$_node" "$_cli" load {} "$@"'.format(" ".join(run_args)),
        "",
    ]), is_executable = True)
    return [
        DefaultInfo(executable = exe, runfiles = ctx.runfiles(files = [ctx.file._node] + layouts, transitive_files = cli_files(ctx))),
        OutputGroupInfo(tarball = depset([tarball])),
    ]

pipeline_load = rule(
    implementation = _impl,
    executable = True,
    doc = _DOC,
    attrs = dict({
        "images": attr.label_keyed_string_dict(mandatory = True, doc = "pipeline_image targets → image name (\"default\" for the main one)."),
        "repo_tags": attr.string_list(doc = "`REGISTRY/REPOSITORY:TAG` names of the main image (others get `TAG-NAME`). Default: `registry/repository:latest`. `--tag` at run time replaces them."),
        "registry": attr.string(doc = "Registry host[:port] of the default tag."),
        "repository": attr.string(doc = "Repository of the default tag, without tag or digest."),
    }, **BUILD_TOOL_ATTRS),
)
