"""pipeline_layout_dir: an OCI image layout given as files (a base image repository's), as one directory."""

load("//bazel/private/common:providers.bzl", "OciLayoutFilesInfo")

_DOC = """An OCI image layout's files (`oci-layout`, `index.json`, `blobs/sha256/...`) as ONE directory, its only
default output: the `image` target of every base image repository (`@pipeline-host-node//image`,
`@pipeline-worker-base//image`, `@pipeline-worker-cuda//image`, `pipeline_base_image`, `pipeline_node_on_base`), so
that it works wherever one layout directory is expected, like rules_oci's `oci_image(base = ...)`, which wants a
single file.

The directory holds hard links to the files where the file system allows (a copy otherwise), made locally and kept
out of caches: it is a rearrangement of files the repository already holds. rules_pipeline's own rules (`pipeline`'s
`base`) read the files through `OciLayoutFilesInfo` and never build the directory.
"""

# One hard link (or copy) per file; `$1` the output directory, `$2` the layout's directory, then the files.
_LINK = """set -eu
out="$1"; root="$2"; shift 2
for f in "$@"; do
  rel="${f#"$root"/}"
  mkdir -p "$out/$(dirname "$rel")"
  ln -L "$f" "$out/$rel" 2>/dev/null || cp -L "$f" "$out/$rel"
done
"""

def _layout_dir_impl(ctx):
    marker = None
    for f in ctx.files.srcs:
        if f.basename == "oci-layout" and (marker == None or len(f.dirname) < len(marker.dirname)):
            marker = f
    if marker == None:
        fail("{}: `srcs` is not an OCI image layout (no `oci-layout` file), got {} file(s): {}".format(
            ctx.label,
            len(ctx.files.srcs),
            ", ".join([f.short_path for f in ctx.files.srcs[:5]]),
        ))
    root = marker.dirname
    files = [f for f in ctx.files.srcs if f.path.startswith(root + "/")]
    out = ctx.actions.declare_directory(ctx.label.name + ".layout")
    args = ctx.actions.args()
    args.add(out.path)
    args.add(root)
    args.add_all(files)
    ctx.actions.run_shell(
        command = _LINK,
        arguments = [args],
        inputs = files,
        outputs = [out],
        mnemonic = "PipelineLayoutDir",
        progress_message = "Linking the OCI layout of {}".format(ctx.label),
        # link(2) cannot cross the sandbox's mounts; remote execution or caches would copy every blob of the base.
        execution_requirements = {"no-sandbox": "1", "no-remote": "1", "no-cache": "1"},
    )
    return [
        DefaultInfo(files = depset([out])),
        OciLayoutFilesInfo(files = depset(files), root = root),
    ]

pipeline_layout_dir = rule(
    implementation = _layout_dir_impl,
    doc = _DOC,
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "The layout's files: `oci-layout` and what is below its directory."),
    },
)
