"""pipeline_push: pushes a pipeline's images (the `_push` target of `pipeline`)."""

load(":launcher.bzl", "LAUNCHER_ATTRS", "cli_exec", "launch_config", "tool_runfiles", "write_launcher")

def _push_impl(ctx):
    cfg, image_files = launch_config(ctx, "push")
    runfiles = tool_runfiles(ctx)
    exe = write_launcher(ctx, cli_exec(ctx, "bazel-push", cfg))
    runfiles = runfiles.merge(ctx.runfiles(files = [cfg, ctx.file._push_client] + image_files))
    return [DefaultInfo(executable = exe, runfiles = runfiles)]

pipeline_push = rule(
    implementation = _push_impl,
    executable = True,
    doc = """Pushes images to `registry/repository` by digest (and `tags_to_push`). Run-time overrides:
`--repository HOST/REPO`, `--tag T` (repeatable, adds), and the `PIPELINE_REPOSITORY` environment variable.
The last stdout line is the pushed reference `HOST/REPO@sha256:...`; `--metadata-out FILE` (or
`$PIPELINE_METADATA_OUT`) writes reference, digest, tags and registry as JSON.

With `--@rules_pipeline//bazel:remote_cache=URL` (the HTTP cache `--remote_cache` names) it reads the images'
layouts without their layer blobs (`pipeline_image`'s `<name>.push/`) and streams each layer the registry lacks from
the cache's `/cas/<sha256>`, checked as it flows: `bazel run --remote_download_minimal //pkg:NAME_push` downloads no
layer, and none at all that the registry already has. `NAME` (`pipeline_launch`, mode "run") pushes the same way.""",
    attrs = dict(LAUNCHER_ATTRS, _push_client = attr.label(
        default = "//bazel/private/pipeline:push_client.sh",
        allow_single_file = True,
        doc = "The bash client of the resident push daemon, which the launcher sources (src/cli/push-daemon/).",
    )),
)
