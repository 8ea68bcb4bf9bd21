"""The pinned worker base images, declared the same way for WORKSPACE (`base_images()`) and bzlmod."""

load(":base_image_repo.bzl", "pipeline_base_image")
load(":host_node_base_repo.bzl", "pipeline_host_node_base")
load(":node_on_base_repo.bzl", "pipeline_node_on_base")

# node:20-bookworm-slim, multi-platform index (linux/amd64 is picked).
WORKER_BASE = struct(registry = "index.docker.io", repository = "library/node", digest = "sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0")

# NVIDIA's CUDA 12.4.1 runtime on Ubuntu 22.04 (multi-platform index), plus node from WORKER_BASE.
WORKER_CUDA = struct(registry = "index.docker.io", repository = "nvidia/cuda", digest = "sha256:517da2300c184c9999ec203c2665244bdebd3578d12fcc7065e83667932643d9")

# The repositories `base_images()` and the bzlmod extension declare, in this order.
BASE_IMAGE_REPOS = ["pipeline-worker-base", "pipeline-worker-cuda", "pipeline-host-node"]

def base_image_specs(mirror = "", layer_handling = "eager"):
    """What `declare_base_images` declares, as data: a list of struct(rule, name, attrs).

    The bzlmod extension's logic (extension_logic.bzl) returns these so that its tests see exactly the repositories
    and attributes the extension creates.

    Args:
      mirror: registry host[:port] to pull the base images from instead of their own registries ("" for none).
      layer_handling: "eager" or "shallow" for the worker bases (the CUDA base's layers; node is always read whole).

    Returns:
      A list of struct(rule = "pipeline_base_image" | "pipeline_node_on_base" | "pipeline_host_node_base",
      name = repository name, attrs = dict of the rule's attributes).
    """
    return [
        struct(rule = "pipeline_base_image", name = "pipeline-worker-base", attrs = {
            "registry": WORKER_BASE.registry,
            "repository": WORKER_BASE.repository,
            "digest": WORKER_BASE.digest,
            "mirror": mirror,
            "layer_handling": layer_handling,
        }),
        struct(rule = "pipeline_node_on_base", name = "pipeline-worker-cuda", attrs = {
            "registry": WORKER_CUDA.registry,
            "repository": WORKER_CUDA.repository,
            "digest": WORKER_CUDA.digest,
            "node_registry": WORKER_BASE.registry,
            "node_repository": WORKER_BASE.repository,
            "node_digest": WORKER_BASE.digest,
            "mirror": mirror,
            "layer_handling": layer_handling,
        }),
        struct(rule = "pipeline_host_node_base", name = "pipeline-host-node", attrs = {}),
    ]

BASE_IMAGE_RULES = {
    "pipeline_base_image": pipeline_base_image,
    "pipeline_host_node_base": pipeline_host_node_base,
    "pipeline_node_on_base": pipeline_node_on_base,
}

def declare_base_images(mirror = "", skip = {}, layer_handling = "eager"):
    """Declares @pipeline-worker-base, @pipeline-worker-cuda and @pipeline-host-node, except names in `skip`.

    Args:
      mirror: registry host[:port] to pull the base images from instead of their own registries ("" for none).
      skip: repository names (a dict or list) not to declare.
      layer_handling: "eager" or "shallow" for the worker bases (see `pipeline_base_image`).
    """
    for spec in base_image_specs(mirror, layer_handling):
        if spec.name not in skip:
            BASE_IMAGE_RULES[spec.rule](name = spec.name, **spec.attrs)
