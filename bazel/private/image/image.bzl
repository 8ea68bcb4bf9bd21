"""pipeline_image: a pipeline program on a base image, as an OCI image layout directory."""

load("//bazel/private/common:app_layout.bzl", "APP_ROOT", "add_bin_links", "add_layer_files", "add_linked_modules", "check_stable_repo_names", "external_repos", "first_party_path", "is_app_file", "is_declaration", "third_party_path")
load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:platforms.bzl", "validate_platforms")
load("//bazel/private/common:providers.bzl", "PipelineAppInfo", "PipelineImageInfo")
load("//bazel/private/common:tools.bzl", "BUILD_TOOL_ATTRS", "cli_worker_args", "run_cli_worker")
load("//bazel/private/flags:stamp.bzl", "STAMP_ATTRS", "stamp_files")
load(":base_layout.bzl", "base_layout")
load(":image_config.bzl", "IMAGE_CONFIG_ATTRS", "image_config_json", "validate_image_config")

_DOC = """Builds the image of a pipeline: the base image's layers (reused byte for byte), then one layer of
third-party packages (`/app/node_modules`, plus the runtime library) and one layer of first-party code, so
that a change to the app rebuilds and uploads only the last layer.

Its one default output is `<name>/`, an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`): usable
as `oci:DIR` by skopeo, umoci and podman, and by any rule that takes an image with `allow_single_file = True`, like
rules_oci's `oci_push(image = ...)` and `oci_load(image = ...)`. The manifest digest (`sha256:...`) is in
`<name>.digest`, output group `digest` (the `pipeline` macro adds a `<name>_digest` target for it); the layers in
output group `layers`; an SPDX 2.3 SBOM (npm packages, base image digest) in `<name>.spdx.json`, output group
`sbom` (the macro's `<name>_sbom` target); and `<name>.push/`, output group `push_layout`: the same layout without
layer blobs (manifests, configs, and `pipeline-remote-blobs.json` recording each layer as in the Bazel remote cache, or
in its base's registry for a shallow base), which `NAME_push` reads under `--@rules_pipeline//bazel:remote_cache`. The SBOM takes the npm packages' integrity and resolved URLs from the
lockfiles of their `npm_dependencies` repositories (`PipelineAppInfo.npm_lockfiles`), inputs of this action only.

The image contract (what a custom base or a "totally custom" image must honour):
- `node` (>= 20) on the image's PATH;
- the program in `/app`: workspace files at `/app/<path>`, npm packages at `/app/node_modules`, other
  repositories' files at `/app/external/<repo>/<path>`;
- working directory `/app`; entrypoint `["node", "/app/<entry>.js"]` with an empty `Cmd`, so arguments given
  to the container go to the launch script.
`workdir`, `entrypoint` and `cmd` can override the last point; the image then breaks the contract (C3, C2 in
docs/image-contract.md) and is for running outside rules_pipeline's runners.

Stamping (`stamp`, `--stamp`): `{KEY}` in `labels` and `annotations` values is replaced by the workspace status
key's value, and the manifest gets `org.opencontainers.image.revision` (`STABLE_GIT_COMMIT`), `.source`
(`STABLE_SOURCE_URL`), `.version` (`BUILD_EMBED_LABEL`) and `.created` (`BUILD_TIMESTAMP`) for the keys that are set.
Unstamped, entries with a placeholder are left out and the digest depends on no status.
"""

def _npm_package_json(f):
    """Exec path of a package's own package.json in a node_modules tree (for the SBOM), else None."""
    p = third_party_path(f)
    if p == None or f.basename != "package.json":
        return None
    parts = p[p.rfind("node_modules/") + len("node_modules/"):].split("/")
    if len(parts) == 2 or (len(parts) == 3 and parts[0].startswith("@")):
        return f.path
    return None

def _image_impl(ctx):
    validate_image_config(ctx)
    app = ctx.attr.app[PipelineAppInfo]
    layout = ctx.actions.declare_directory(ctx.label.name)

    # The same layout without layer blobs: what NAME_push reads under `--@rules_pipeline//bazel:remote_cache`.
    push_layout = ctx.actions.declare_directory(ctx.label.name + ".push")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    sbom = ctx.actions.declare_file(ctx.label.name + ".spdx.json")
    inputs = []
    base_dir = None
    if ctx.attr.base:
        base_dir, base_files = base_layout(ctx.attr.base, "base")
        inputs.append(base_files)

    # Third-party packages first, so that they stay cached below the app layer; then first-party code.
    third_party = []
    first_party = []

    # The npm packages' own package.json files: the only files of the npm trees the image action reads (the SBOM's).
    package_jsons = []
    for f in app.files.to_list():
        if is_declaration(f) and not ctx.attr.include_declarations:
            continue
        if third_party_path(f) != None:
            third_party.append(f)
            if _npm_package_json(f):
                package_jsons.append(f)
        elif is_app_file(f):
            first_party.append(f)
    check_stable_repo_names(ctx.label, external_repos(first_party))
    third_party = depset(third_party + app.runtime)
    first_party = depset(first_party)

    # Each layer's `dest<TAB>src` lines go to a file of their own: a worker's request holds only the flag file's
    # arguments (a second param file would be a start-up argument of the worker, the same for every request).
    listings = {"node_modules": ctx.actions.args(), "app": ctx.actions.args()}
    add_layer_files(listings["node_modules"], third_party, "third_party")
    add_layer_files(listings["node_modules"], depset(app.runtime), "runtime")
    add_bin_links(listings["node_modules"], third_party, app.bin_links)
    add_layer_files(listings["app"], first_party, "first_party")
    add_linked_modules(listings["app"], first_party, app.module_mappings)
    ordered = []
    for label, files in [("node_modules", third_party), ("app", first_party)]:
        tgz = ctx.actions.declare_file("{}.layers/{}.tar.gz".format(ctx.label.name, label))
        desc = ctx.actions.declare_file("{}.layers/{}.json".format(ctx.label.name, label))
        file_list = ctx.actions.declare_file("{}.layers/{}.files".format(ctx.label.name, label))
        listings[label].set_param_file_format("multiline")
        ctx.actions.write(file_list, listings[label])
        args = cli_worker_args(ctx, "layer")
        args.add(tgz, format = "--out=%s")
        args.add(desc, format = "--descriptor=%s")
        args.add(label, format = "--name=%s")
        args.add(file_list, format = "--files=%s")
        run_cli_worker(
            ctx,
            args,
            depset([file_list], transitive = [files]),
            [tgz, desc],
            "PipelineLayer",
            "Building {} layer of {}".format(label, display_label(ctx.label)),
        )
        ordered.append((tgz, desc))

    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    settings = image_config_json(ctx)
    settings.update(
        entrypoint = ctx.attr.entrypoint or ["node", "/" + APP_ROOT + "/" + first_party_path(app.entry)],
        workdir = ctx.attr.workdir or "/" + APP_ROOT,
        os = ctx.attr.os,
        architecture = ctx.attr.architecture,
    )
    ctx.actions.write(config, json.encode(settings))
    args = cli_worker_args(ctx, "image")
    args.add(config, format = "--config=%s")
    args.add(layout.path, format = "--out-layout=%s")
    args.add(digest, format = "--out-digest=%s")
    args.add(push_layout.path, format = "--out-push-layout=%s")
    if ctx.attr.base:
        args.add(base_dir, format = "--base=%s")
    args.add_all(["{}:{}".format(tgz.path, desc.path) for tgz, desc in ordered], format_each = "--layer=%s")
    if ctx.attr.tag:
        args.add(ctx.attr.tag, format = "--ref-name=%s")
    validate_platforms(ctx.label, "platforms", ctx.attr.platforms)
    args.add_all(ctx.attr.platforms, format_each = "--platform=%s")
    stamp = stamp_files(ctx)
    args.add_all(stamp, format_each = "--stamp-file=%s")
    args.add(sbom, format = "--sbom-out=%s")
    args.add(display_label(ctx.label), format = "--sbom-name=%s")

    # The package.json files, for the SBOM: a file of its own (see the layers' file lists). They are the action's only
    # inputs from the npm trees: the rest is in the node_modules layer already, and as inputs it would only make Bazel
    # map and digest all of node_modules for every image (1,658 inputs instead of 84 in bench P11's monorepo).
    sbom_listing = ctx.actions.args()
    sbom_listing.set_param_file_format("multiline")
    sbom_listing.add_all(package_jsons)
    sbom_packages = ctx.actions.declare_file(ctx.label.name + ".sbom-packages")
    ctx.actions.write(sbom_packages, sbom_listing)
    args.add(sbom_packages, format = "--sbom-packages=%s")

    # The lockfiles the npm trees were installed from (integrity, resolved URLs): inputs of this action alone, so a
    # lockfile-only change rebuilds the SBOM and nothing else. The CLI reads no other lockfile.
    lockfiles = getattr(app, "npm_lockfiles", depset())
    args.add_all(lockfiles, format_each = "--sbom-lockfile=%s")
    run_cli_worker(
        ctx,
        args,
        depset([config, sbom_packages] + stamp + package_jsons + [f for pair in ordered for f in pair], transitive = inputs + [lockfiles]),
        [layout, digest, sbom, push_layout],
        "PipelineImage",
        "Assembling image {}".format(display_label(ctx.label)),
        # The layout hard-links the base's and the layers' blobs instead of copying them, so N images on one base
        # cost their own layers, not N bases. Bazel's sandbox mounts the output directory apart from the inputs,
        # and link(2) cannot cross mounts; the action reads only its declared inputs, so it runs unsandboxed.
        execution_requirements = {"no-sandbox": "1"},
    )
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout, digest])),
        OutputGroupInfo(layers = depset([f for pair in ordered for f in pair]), digest = depset([digest]), sbom = depset([sbom]), push_layout = depset([push_layout])),
        PipelineImageInfo(layout = layout, push_layout = push_layout, digest = digest, sbom = sbom, npm_lockfiles = lockfiles),
    ]

pipeline_image = rule(
    implementation = _image_impl,
    doc = _DOC,
    attrs = dict({
        "app": attr.label(mandatory = True, providers = [PipelineAppInfo], doc = "The program (a `pipeline_app`)."),
        "base": attr.label(allow_files = True, doc = "Base image: an OCI layout (directory or files), e.g. `@pipeline-worker-base//image`. None: start from scratch (the image then needs its own Node)."),
        "include_declarations": attr.bool(default = False, doc = "Also put what only the TypeScript compiler reads into the image: `.d.ts` files (and their maps) and `@types/*` packages. Off by default: Node never loads them, and the SBOM then lists no `@types/*` package either."),
        "tag": attr.string(default = "latest", doc = "Name of the manifest in the layout's index.json (`oci:DIR:TAG`)."),
        "os": attr.string(default = "linux", doc = "Image OS when there is no base."),
        "architecture": attr.string(default = "amd64", doc = "Image architecture when there is no base."),
        "platforms": attr.string_list(doc = """Build a multi-platform image: `os/arch[/variant]` entries (e.g. `["linux/amd64", "linux/arm64"]`).
The output is then an OCI image index whose manifests share the app layers (built once) and each start from that
platform's manifest of `base`, which must be a multi-platform base (an index layout, e.g.
`pipeline_base_image(platforms = [...])`). The digest file names the index. Empty (default): one image."""),
    }, **dict(IMAGE_CONFIG_ATTRS, **dict(BUILD_TOOL_ATTRS, **STAMP_ATTRS))),
)
