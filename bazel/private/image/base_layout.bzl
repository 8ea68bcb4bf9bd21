"""The base image an image action reads: an OCI layout given as a base image repository's files, a directory, or files."""

load("//bazel/private/common:providers.bzl", "OciLayoutFilesInfo")

def base_layout(target, attr_name):
    """The directory of the OCI layout `target` gives, and the files an action reading it needs.

    A base image repository's `image` (`OciLayoutFilesInfo`) is read as its files, never as the directory it also
    makes of them for other rules; any other target must give one directory (a tree artifact, e.g. rules_oci's
    `oci_image` or `pipeline_node_base`) or files of which one is named `oci-layout`.

    Args:
      target: the base image target.
      attr_name: the attribute that named it, for the error message.

    Returns:
      A tuple (exec path of the layout's directory, depset of its Files).
    """
    if OciLayoutFilesInfo in target:
        return target[OciLayoutFilesInfo].root, target[OciLayoutFilesInfo].files
    files = target[DefaultInfo].files.to_list()
    if len(files) == 1 and files[0].is_directory:
        return files[0].path, target[DefaultInfo].files
    for f in files:
        if f.basename == "oci-layout":
            return f.dirname, target[DefaultInfo].files
    fail("`{}`: {} is not an OCI image layout (expected a directory, or files including `oci-layout`), got {} file(s): {}".format(
        attr_name,
        target.label,
        len(files),
        ", ".join([f.short_path for f in files[:5]]),
    ))
