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

load("//bazel/private:app.bzl", _pipeline_app = "pipeline_app")
load("//bazel/private:image.bzl", _pipeline_image = "pipeline_image")
load("//bazel/private:launch.bzl", _pipeline_launch = "pipeline_launch", _pipeline_push = "pipeline_push")
load("//bazel/private:ts_compile.bzl", _ts_compile = "ts_compile")
load("//bazel/private:pipeline_macro.bzl", _pipeline = "pipeline")
load(
    "//bazel/private:base_image_repo.bzl",
    _pipeline_base_image = "pipeline_base_image",
    _pipeline_host_node_base = "pipeline_host_node_base",
    _pipeline_node_on_base = "pipeline_node_on_base",
)

pipeline = _pipeline
pipeline_app = _pipeline_app
pipeline_image = _pipeline_image
pipeline_push = _pipeline_push
pipeline_launch = _pipeline_launch
ts_compile = _ts_compile
pipeline_base_image = _pipeline_base_image
pipeline_host_node_base = _pipeline_host_node_base
pipeline_node_on_base = _pipeline_node_on_base

# Pinned worker bases. node:20-bookworm-slim, multi-platform index (linux/amd64 is picked).
WORKER_BASE = struct(registry = "index.docker.io", repository = "library/node", digest = "sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0")

# NVIDIA's CUDA 12.4.1 runtime on Ubuntu 22.04 (multi-platform index), plus node from WORKER_BASE.
WORKER_CUDA = struct(registry = "index.docker.io", repository = "nvidia/cuda", digest = "sha256:517da2300c184c9999ec203c2665244bdebd3578d12fcc7065e83667932643d9")

def base_images(mirror = None):
    """Declares the base images pipelines build on:

    - `@pipeline-worker-base//image`: Node 20 (Debian bookworm slim), pinned by digest, pulled on first use.
    - `@pipeline-worker-cuda//image`: NVIDIA CUDA 12.4.1 runtime (Ubuntu 22.04) plus the worker base's node.
    - `@pipeline-host-node//image`: built from the host's Node runtime; needs no registry; not hermetic.

    Args:
      mirror: a registry host serving the same repositories (e.g. a pull-through cache); `$PIPELINE_BASE_MIRROR`
        overrides it at fetch time.
    """
    existing = native.existing_rules()
    if "pipeline-worker-base" not in existing:
        _pipeline_base_image(
            name = "pipeline-worker-base",
            registry = WORKER_BASE.registry,
            repository = WORKER_BASE.repository,
            digest = WORKER_BASE.digest,
            mirror = mirror or "",
        )
    if "pipeline-worker-cuda" not in existing:
        _pipeline_node_on_base(
            name = "pipeline-worker-cuda",
            registry = WORKER_CUDA.registry,
            repository = WORKER_CUDA.repository,
            digest = WORKER_CUDA.digest,
            node_registry = WORKER_BASE.registry,
            node_repository = WORKER_BASE.repository,
            node_digest = WORKER_BASE.digest,
            mirror = mirror or "",
        )
    if "pipeline-host-node" not in existing:
        _pipeline_host_node_base(name = "pipeline-host-node")
