"""Starlark analysis tests for attribute validation, without bazel-skylib and without running a test.

`expect_failure_test(target_under_test, contains)` analyses `target_under_test` with
`--allow_analysis_failures` and fails its own analysis unless that target's analysis failed with a message
containing every string of `contains`. So `bazel build --nobuild` over the test targets is the whole check: it
succeeds only when every bad attribute was refused with the expected message (test/e2e/starlark-analysis.test.ts).

`fake_image` and `fake_app` provide PipelineImageInfo and PipelineAppInfo from declared files, so a rule's own
validation runs without building an image or compiling a program (`bazel build --nobuild` never runs their actions).
"""

load("@rules_pipeline//bazel:pipeline.bzl", "PipelineAppInfo")

# A stand-in for pipeline_image provides its provider, which is private to the rules.
# buildifier: disable=bzl-visibility
load("@rules_pipeline//bazel/private/common:providers.bzl", "PipelineImageInfo")

_allow_analysis_failures = analysis_test_transition(settings = {"//command_line_option:allow_analysis_failures": True})

def _expect_failure_impl(ctx):
    target = ctx.attr.target_under_test
    if type(target) == "list":
        target = target[0]
    if AnalysisFailureInfo not in target:
        fail("{}: expected the analysis of {} to fail with {}, but it succeeded".format(ctx.label, target.label, ctx.attr.contains))
    messages = [c.message for c in target[AnalysisFailureInfo].causes.to_list()]
    for want in ctx.attr.contains:
        if not [m for m in messages if want in m]:
            fail("{}: the analysis of {} failed, but no message contains {}; got:\n{}".format(ctx.label, target.label, repr(want), "\n".join(messages)))
    return [AnalysisTestResultInfo(success = True, message = "")]

expect_failure_test = rule(
    implementation = _expect_failure_impl,
    analysis_test = True,
    doc = "Fails (at analysis) unless `target_under_test` fails its analysis with messages containing `contains`.",
    attrs = {
        "target_under_test": attr.label(mandatory = True, cfg = _allow_analysis_failures, doc = "The target whose analysis must fail."),
        "contains": attr.string_list(mandatory = True, doc = "Strings the failure message must contain (e.g. the attribute and the bad value)."),
    },
)

def _fake_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + ".layout")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    ctx.actions.run_shell(outputs = [layout, digest], command = "echo unused > " + digest.path)
    return [DefaultInfo(files = depset([layout])), PipelineImageInfo(layout = layout, digest = digest, sbom = None)]

fake_image = rule(
    implementation = _fake_image_impl,
    doc = "PipelineImageInfo without an image: for analysis tests of launchers (never built).",
    attrs = {},
)

def _fake_app_impl(ctx):
    entry = ctx.actions.declare_file(ctx.label.name + ".js")
    ctx.actions.write(entry, "")
    return [PipelineAppInfo(
        entry = entry,
        files = depset([entry]),
        runtime = [],
        module_mappings = depset(),
        bin_links = depset(),
        npm_lockfiles = depset(),
    )]

fake_app = rule(
    implementation = _fake_app_impl,
    doc = "PipelineAppInfo without a program: for analysis tests of pipeline_image and pipeline_launch (never built).",
    attrs = {},
)
