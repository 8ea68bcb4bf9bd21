"""The `pipeline` macro: one program, its images, and the ways to run it."""

load("//bazel/private/common:platforms.bzl", "validate_platforms")
load("//bazel/private/image:image.bzl", "pipeline_image")
load("//bazel/private/image:image_config.bzl", "IMAGE_CONFIG_ATTRS")
load("//bazel/private/image:image_full.bzl", "pipeline_image_full")
load("//bazel/private/image:load.bzl", "pipeline_load")
load(":app.bzl", "pipeline_app")
load(":launch.bzl", "pipeline_launch")
load(":push.bzl", "pipeline_push")

def pipeline(
        name,
        entry,
        registry,
        repository,
        srcs = [],
        deps = [],
        data = [],
        base = None,
        bases = None,
        env = {},
        stamp = -1,
        tags_to_push = [],
        tsconfig = None,
        typescript = None,
        insecure = False,
        platforms = [],
        sign_key = None,
        include_declarations = False,
        visibility = None,
        **kwargs):
    """Builds a TypeScript pipeline into an OCI image, pushes it and launches it with the pushed URI.

    Targets (names are a contract):
      NAME_image[_<base name>]: the image (an OCI layout directory), one per base.
      NAME_image[_<base name>]_digest: its manifest digest file (`sha256:...`).
      NAME_image[_<base name>]_full: the same layout with every blob present (a shallow base's layers fetched), for
        rules_oci's `oci_push`/`oci_load`/`oci_image(base = ...)`; tagged `manual` (it may download the base's layers).
      NAME_sbom: the images' SPDX 2.3 SBOMs (`NAME_image[_<base name>].spdx.json`: npm packages, base image digest).
      NAME_push: pushes the images; prints `HOST/REPO@sha256:...`.
      NAME_load: `bazel run` loads the images into docker or podman as `registry/repository:latest` (image N of
        `bases`: `latest-N`); output group `tarball`: all of them in one docker archive.
      NAME: pushes, then runs `entry` with PIPELINE_CONTAINER_IMAGE set to the pushed reference.
      NAME_binary: runs `entry` with the built image's reference (configured registry/repository), pushes nothing.
      NAME_local: runs `entry` with no image variables (no image is built).
    Internal, not a contract: `_NAME_image[_<base name>]_base`, an alias of each base (so that Bazel fetches the
    base's repository while it analyses the rest).

    Args:
      name: base name of the targets.
      entry: the launch script, a .ts or .js file of this package.
      registry: registry host[:port] (e.g. "ghcr.io", "localhost:5000").
      repository: repository path, without tag or digest.
      srcs: other .ts/.js sources of this package.
      deps: npm packages (`@npm//:node_modules/x`) and any other targets the program loads.
      data: files read at run time.
      base: base image (an OCI layout), e.g. "@pipeline-worker-base//image".
      bases: instead of `base`, a dict image name → base; "default" is the main one. Each gets an image.
      env: environment of the image, also set for the launch script.
      stamp: 1 always stamp, 0 never, -1 (default) with `--stamp`.
      tags_to_push: tags to push besides the digest; `{KEY}` placeholders (workspace status keys) are expanded
        when stamping, and a tag with unresolved placeholders is skipped with a message.
      tsconfig: a tsconfig.json whose compilerOptions apply.
      typescript: the `typescript` npm package to compile with (e.g. "@npm//:node_modules/typescript"; 5.0 to
        7.x); default: the workspace's (`pipeline_dependencies(typescript = ...)`), else the rules' pinned one.
      insecure: allow plain HTTP to a non-loopback registry.
      platforms: `os/arch[/variant]` entries (e.g. `["linux/amd64", "linux/arm64"]`): build one OCI image index
        per image instead of one manifest. The app layers are built once and shared; each platform's manifest is
        that platform's manifest of the base (a multi-platform base, `pipeline_base_image(platforms = ...)`) plus
        them. NAME_push pushes the index (`-- --platform P` pushes only some); NAME_load, NAME_binary and NAME
        run this machine's platform. npm packages with native code are built for the host only: see
        docs/bazel.md, "Multi-platform images".
      sign_key: a cosign private key file (e.g. "//keys:cosign.key", a source file): NAME_push and NAME sign what
        they push and attach a signed SLSA provenance (see docs/supply-chain.md); the password is read at push
        time, never at build time.
      include_declarations: also put `.d.ts` files and `@types/*` packages (read by the compiler only) into the images.
      visibility: visibility of the public targets.
      **kwargs: the image config attributes of `pipeline_image` (`labels`, `annotations`, `user`, `exposed_ports`,
        `volumes`, `workdir`, `entrypoint`, `cmd`: see its docs) go to each image; every other one (tags,
        testonly...) to every target.
    """
    if base and bases:
        fail("pipeline {}: set `base` or `bases`, not both. got: base = {}, bases = {}".format(name, repr(base), repr(bases)))
    if bases == None:
        bases = {"default": base}
    if type(bases) != type({}) or not bases:
        fail("pipeline {}: `bases` must be a non-empty dict of image name to base image, got {}".format(name, repr(bases)))
    for k, v in env.items():
        if type(v) != type(""):
            fail("pipeline {}: `env` values must be strings; {} is {}".format(name, repr(k), repr(v)))
    validate_platforms("pipeline " + name, "platforms", platforms)
    if type(entry) != type(""):
        fail("pipeline {}: `entry` must be a file name, got {}".format(name, repr(entry)))

    image_config = {k: kwargs.pop(k) for k in IMAGE_CONFIG_ATTRS if k in kwargs}
    user_tags = kwargs.pop("tags", [])
    manual = user_tags + (["manual"] if "manual" not in user_tags else [])

    pipeline_app(
        name = name + "_app",
        display_name = name,
        entry = entry,
        srcs = srcs,
        deps = deps,
        data = data,
        tsconfig = tsconfig,
        typescript = typescript,
        tags = manual,
        visibility = visibility,
        **kwargs
    )

    images = {}
    for image_name in sorted(bases.keys()):
        target = name + "_image" if image_name == "default" else "{}_image_{}".format(name, image_name)

        # The base through an alias in this package, so that the image's other dependencies (the app, and with it
        # the workspace's npm repository) are analysed and fetched while the base's repository is still being fetched
        # (bazel/private/BUILD.bazel says why).
        image_base = bases[image_name]
        if image_base != None:
            base_alias = "_{}_base".format(target)
            native.alias(name = base_alias, actual = image_base, tags = manual, testonly = kwargs.get("testonly", False))
            image_base = ":" + base_alias
        pipeline_image(
            name = target,
            app = ":" + name + "_app",
            base = image_base,
            env = env,
            stamp = stamp,
            platforms = platforms,
            include_declarations = include_declarations,
            tags = user_tags,
            visibility = visibility,
            **dict(image_config, **kwargs)
        )
        images[":" + target] = image_name

        # `manual`: on a shallow base it downloads the base's layers, which `bazel build //...` must not do unasked.
        pipeline_image_full(
            name = target + "_full",
            image = ":" + target,
            insecure = insecure,
            tags = manual,
            visibility = visibility,
            testonly = kwargs.get("testonly", False),
        )
        native.filegroup(
            name = target + "_digest",
            srcs = [":" + target],
            output_group = "digest",
            tags = user_tags,
            visibility = visibility,
            testonly = kwargs.get("testonly", False),
        )

    native.filegroup(
        name = name + "_sbom",
        srcs = sorted(images.keys()),
        output_group = "sbom",
        tags = user_tags,
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

    common = dict(
        registry = registry,
        repository = repository,
        tags_to_push = tags_to_push,
        insecure = insecure,
        images = images,
        stamp = stamp,
        visibility = visibility,
    )
    signed = dict(common, sign_key = sign_key)
    pipeline_push(name = name + "_push", tags = user_tags, **dict(signed, **kwargs))
    pipeline_load(
        name = name + "_load",
        images = images,
        registry = registry,
        repository = repository,
        tags = user_tags,
        visibility = visibility,
        **kwargs
    )
    pipeline_launch(name = name, app = ":" + name + "_app", mode = "run", env = env, tags = user_tags, **dict(signed, **kwargs))
    pipeline_launch(name = name + "_binary", app = ":" + name + "_app", mode = "binary", env = env, tags = user_tags, **dict(common, **kwargs))
    pipeline_launch(
        name = name + "_local",
        app = ":" + name + "_app",
        mode = "local",
        env = env,
        tags = user_tags,
        visibility = visibility,
        **kwargs
    )
