"""The pinned worker base images, declared the same way for WORKSPACE (`base_images()`) and bzlmod."""

load(":base_image_repo.bzl", "pipeline_base_image")
load(":host_node_base_repo.bzl", "pipeline_host_node_base")
load(":node_on_base_repo.bzl", "pipeline_node_on_base")

# node:24-bookworm-slim (Node 24.18.0, the LTS line until 2028-04-30), multi-platform index (linux/amd64 is picked).
# Docker Hub cannot be reached from the project's machines: this digest is the one public Dockerfiles pin for that tag
# (e.g. `FROM node:24-bookworm-slim@sha256:6f7b03f7…`); check it with `crane digest node:24-bookworm-slim` or
# `skopeo inspect --raw docker://node:24-bookworm-slim` (docs/bazel.md, "The image's Node", says how to move it).
WORKER_BASE = struct(registry = "index.docker.io", repository = "library/node", digest = "sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d")

# NVIDIA's CUDA 12.4.1 runtime on Ubuntu 22.04 (multi-platform index), plus node from WORKER_BASE.
WORKER_CUDA = struct(registry = "index.docker.io", repository = "nvidia/cuda", digest = "sha256:517da2300c184c9999ec203c2665244bdebd3578d12fcc7065e83667932643d9")

# The repositories `base_images()` and the bzlmod extension declare, in this order.
BASE_IMAGE_REPOS = ["pipeline-worker-base", "pipeline-worker-cuda", "pipeline-host-node"]

def base_image_specs(mirror = "", layer_handling = "eager", node = []):
    """What `declare_base_images` declares, as data: a list of struct(rule, name, attrs).

    The bzlmod extension's logic (extension_logic.bzl) returns these so that its tests see exactly the repositories
    and attributes the extension creates.

    Args:
      mirror: registry host[:port] to pull the base images from instead of their own registries ("" for none).
      layer_handling: "eager" or "shallow" for the worker bases (the CUDA base's layers; node is always read whole).
      node: canonical labels of Node's npm packages the worker bases carry instead of their own Node (`[]`: theirs;
        the CUDA base then takes the worker base's node).

    Returns:
      A list of struct(rule = "pipeline_base_image" | "pipeline_node_on_base" | "pipeline_host_node_base",
      name = repository name, attrs = dict of the rule's attributes).
    """
    worker = {
        "registry": WORKER_BASE.registry,
        "repository": WORKER_BASE.repository,
        "digest": WORKER_BASE.digest,
        "mirror": mirror,
        "layer_handling": layer_handling,
    }
    cuda = {
        "registry": WORKER_CUDA.registry,
        "repository": WORKER_CUDA.repository,
        "digest": WORKER_CUDA.digest,
        "mirror": mirror,
        "layer_handling": layer_handling,
    }
    if node:
        # The CUDA runtime pulled as it is, with the lockfile's Node on it like the worker base.
        cuda_spec = struct(rule = "pipeline_base_image", name = "pipeline-worker-cuda", attrs = dict(cuda, node = node))
    else:
        cuda_spec = struct(rule = "pipeline_node_on_base", name = "pipeline-worker-cuda", attrs = dict(
            cuda,
            node_registry = WORKER_BASE.registry,
            node_repository = WORKER_BASE.repository,
            node_digest = WORKER_BASE.digest,
        ))
    return [
        struct(rule = "pipeline_base_image", name = "pipeline-worker-base", attrs = dict(worker, node = node) if node else worker),
        cuda_spec,
        struct(rule = "pipeline_host_node_base", name = "pipeline-host-node", attrs = {}),
    ]

BASE_IMAGE_RULES = {
    "pipeline_base_image": pipeline_base_image,
    "pipeline_host_node_base": pipeline_host_node_base,
    "pipeline_node_on_base": pipeline_node_on_base,
}

def declare_base_images(mirror = "", skip = {}, layer_handling = "eager", node = []):
    """Declares @pipeline-worker-base, @pipeline-worker-cuda and @pipeline-host-node, except names in `skip`.

    Args:
      mirror: registry host[:port] to pull the base images from instead of their own registries ("" for none).
      skip: repository names (a dict or list) not to declare.
      layer_handling: "eager" or "shallow" for the worker bases (see `pipeline_base_image`).
      node: canonical labels of Node's npm packages for the worker bases (see `base_image_specs`).
    """
    for spec in base_image_specs(mirror, layer_handling, node):
        if spec.name not in skip:
            BASE_IMAGE_RULES[spec.rule](name = spec.name, **spec.attrs)
