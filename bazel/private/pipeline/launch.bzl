"""pipeline_launch: runs a pipeline's launch script (the `_local`, `_binary` and NAME targets of `pipeline`)."""

load("//bazel/private/common:app_layout.bzl", "app_runfiles")
load("//bazel/private/common:environment.bzl", "ENV")
load("//bazel/private/common:providers.bzl", "PipelineAppInfo")
load("//bazel/private/common:tools.bzl", "rlocation")
load(":launcher.bzl", "LAUNCHER_ATTRS", "cli_exec", "launch_config", "tool_runfiles", "write_launcher")

def _launch_impl(ctx):
    mode = ctx.attr.mode
    if mode not in ("local", "binary", "run"):
        fail("{}: `mode` must be \"local\", \"binary\" or \"run\", got {}".format(ctx.label, repr(mode)))
    if mode != "local" and not ctx.attr.images:
        fail("{}: `images` is required in mode {}".format(ctx.label, repr(mode)))
    app = ctx.attr.app[PipelineAppInfo]
    cfg, image_files = launch_config(ctx, mode)
    runfiles = tool_runfiles(ctx)
    preload = ctx.file._preload
    runfiles = runfiles.merge(ctx.runfiles(files = [cfg, app.entry, preload] + image_files)).merge(app_runfiles(ctx, app.files, app.runtime, app.module_mappings, app.bin_links, ctx.file._runfiles_package_json))
    runfiles = runfiles.merge(ctx.attr._preload[DefaultInfo].default_runfiles)
    if mode == "run":
        body = cli_exec(ctx, "bazel-run", cfg)
    else:
        body = "\n".join([
            'rl {} "{}"'.format(ENV.LAUNCH_CONFIG, rlocation(ctx, cfg)),
            "export " + ENV.LAUNCH_CONFIG,
            'rl _workspace "{}"'.format(ctx.workspace_name),
            'rl _node "{}"'.format(rlocation(ctx, ctx.file._node)),
            'rl _preload "{}"'.format(rlocation(ctx, preload)),
            'rl _entry "{}"'.format(rlocation(ctx, app.entry)),
            'cd "$_workspace"',
            'exec "$_node" --preserve-symlinks --preserve-symlinks-main --require "$_preload" "$_entry" "$@"',
        ])
    exe = write_launcher(ctx, body)
    return [DefaultInfo(executable = exe, runfiles = runfiles)]

pipeline_launch = rule(
    implementation = _launch_impl,
    executable = True,
    doc = """Runs the pipeline's launch script. `mode`: "run" pushes the images then runs the script with
PIPELINE_CONTAINER_IMAGE (and PIPELINE_CONTAINER_IMAGE_URIS) set to the pushed references; "binary" sets them
from the built images' digests without pushing; "local" runs with no image variables.""",
    attrs = dict(LAUNCHER_ATTRS, **{
        "app": attr.label(mandatory = True, providers = [PipelineAppInfo], doc = "The program (a `pipeline_app`)."),
        "mode": attr.string(default = "local", doc = "\"run\", \"binary\" or \"local\"."),
        "_preload": attr.label(default = "@rules_pipeline//:pipeline_preload", allow_single_file = True, cfg = "exec"),
        "_runfiles_package_json": attr.label(default = "@rules_pipeline//bazel/private/common:runfiles_package.json", allow_single_file = True),
    }),
)
