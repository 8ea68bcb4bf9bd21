"""pick_file: one output of a target, by path (with the target's outputs as runfiles)."""

def _pick_file_impl(ctx):
    wanted = ctx.attr.path
    for f in ctx.attr.src[DefaultInfo].files.to_list():
        if f.short_path.endswith("/" + wanted) or f.short_path == wanted:
            runfiles = ctx.runfiles(transitive_files = ctx.attr.src[DefaultInfo].files)
            runfiles = runfiles.merge(ctx.attr.src[DefaultInfo].default_runfiles)
            for d in ctx.attr.data:
                runfiles = runfiles.merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
            return [DefaultInfo(files = depset([f]), runfiles = runfiles)]
    fail("pick_file {}: `path` {} is not among the outputs of {}".format(ctx.label, repr(wanted), ctx.attr.src.label))

pick_file = rule(
    implementation = _pick_file_impl,
    doc = "Selects one output of `src` by path (its runfiles carry all of `src`'s outputs and `data`).",
    attrs = {
        "src": attr.label(mandatory = True, doc = "Target whose outputs contain the file."),
        "path": attr.string(mandatory = True, doc = "Path of the file, relative to the package of `src`."),
        "data": attr.label_list(doc = "Extra files to carry in runfiles (e.g. npm packages the tool requires)."),
    },
)
