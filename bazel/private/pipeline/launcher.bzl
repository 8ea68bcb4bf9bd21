"""What the runnable targets of `pipeline` share (`pipeline_push` in push.bzl, `pipeline_launch` in launch.bzl).

Each writes a launch config (JSON, runfiles-relative paths, no secrets) and a bash launcher that only finds the
runfiles and execs Node; everything else happens in TypeScript (`pipeline bazel-push`, `pipeline bazel-run`,
and the preload that sets the image variables).
"""

load("//bazel/private/common:environment.bzl", "ENV")
load("//bazel/private/common:grammar.bzl", "is_registry", "is_repository")
load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:providers.bzl", "PipelineAppInfo", "PipelineImageInfo", "StringFlagInfo")
load("//bazel/private/common:tools.bzl", "LAUNCHER_TOOL_ATTRS", "cli_files", "declare_launcher", "rlocation", "runfiles_root_snippet", "tools_node_modules")
load("//bazel/private/flags:stamp.bzl", "STAMP_ATTRS", "placeholder_error", "stamp_files")

def validate_target(label, registry, repository):
    """Fails naming the attribute when `registry`/`repository` are malformed.

    Args:
      label: the target's label, for the error message.
      registry: the `registry` attribute.
      repository: the `repository` attribute.
    """
    if not registry:
        fail("{}: `registry` must be set (e.g. \"localhost:5000\" or \"ghcr.io\")".format(label))
    if "://" in registry or "/" in registry or "@" in registry or " " in registry:
        fail("{}: `registry` should be a host[:port] without scheme or path. got: {}".format(label, repr(registry)))
    if not repository:
        fail("{}: `repository` must be set (e.g. \"team/pipeline\")".format(label))
    if "@" in repository or ":" in repository:
        fail("{}: `repository` attribute should not contain digest or tag. got: {}".format(label, repr(repository)))
    if repository != repository.lower() or repository.startswith("/") or repository.endswith("/") or "//" in repository or " " in repository:
        fail("{}: `repository` must be lowercase path components separated by \"/\". got: {}".format(label, repr(repository)))

    # The CLI's grammars (generated into grammar.bzl): what passes here is what `bazel run` accepts.
    if not is_registry(registry):
        fail("{}: `registry` should be a host[:port] (DNS labels of letters, digits and \"-\", or [IPv6]). got: {}".format(label, repr(registry)))
    if not is_repository(repository):
        fail("{}: `repository` components are [a-z0-9] runs joined by \".\", \"_\", \"__\" or \"-\"s, each starting and ending with a letter or digit. got: {}".format(label, repr(repository)))

def _image_files(target, lazy):
    if PipelineImageInfo not in target:
        fail("`images`: {} is not a pipeline_image (it provides no PipelineImageInfo: an OCI layout and its digest file)".format(target.label))
    info = target[PipelineImageInfo]
    layout = info.layout
    if lazy:
        layout = getattr(info, "push_layout", None)
        if not layout:
            fail("`images`: {} has no push layout (PipelineImageInfo.push_layout), which --@rules_pipeline//bazel:remote_cache needs".format(target.label))
    return layout, info.digest, getattr(info, "sbom", None)

def remote_cache_url(label, value):
    """`--@rules_pipeline//bazel:remote_cache`'s value, checked: "" (unset) or an http(s) URL without credentials.

    Args:
      label: the target's label, for the error message.
      value: the flag's value.

    Returns:
      The URL, or "".
    """
    if not value:
        return ""
    scheme, sep, rest = value.partition("://")
    authority = rest.partition("/")[0]
    if not sep or scheme not in ("http", "https") or not authority:
        fail("{}: --@rules_pipeline//bazel:remote_cache must be the http:// or https:// URL of the HTTP cache `--remote_cache` names (the push reads no gRPC cache). got: {}".format(label, repr(value)))
    if "@" in authority:
        # Not the value: it holds a password. The launch config (an action output, kept in caches) never gets one.
        fail("{}: --@rules_pipeline//bazel:remote_cache must not carry credentials (user:password@ in {}://...): they would be written into the launch config".format(label, scheme))
    if "?" in rest or "#" in rest or " " in value:
        fail("{}: --@rules_pipeline//bazel:remote_cache must be a plain URL (no query, fragment or space). got: {}".format(label, repr(value)))
    return value

def _sign_key(ctx, mode):
    """The `sign_key` File, after checking it can stay out of Bazel's outputs and caches.

    A source file (of this or an external repository) is an input only: the runfiles tree links to it, no action
    reads it, so neither the output base nor a disk or remote cache gets a copy. A generated file would be an
    action output, stored in the output base and uploaded to any cache: refused.

    Args:
      ctx: the rule context.
      mode: "push", "run", "binary" or "local".

    Returns:
      The key File, or None when `sign_key` is not set.
    """
    key = ctx.file.sign_key
    if not key:
        return None
    if mode not in ("push", "run"):
        fail("{}: `sign_key` applies to the targets that push (NAME_push and NAME), not mode {}. got: {}".format(ctx.label, repr(mode), display_label(ctx.attr.sign_key.label)))
    if not key.is_source:
        fail("{}: `sign_key` must be a source file (a generated key would be an action output, kept in the output base and caches). got: {}".format(ctx.label, display_label(ctx.attr.sign_key.label)))
    return key

def launch_config(ctx, mode):
    """Writes `<name>.launch.json` (runfiles-relative paths, no secrets) after validating the attributes.

    Args:
      ctx: the rule context of a `pipeline_push` or `pipeline_launch`.
      mode: "push", "run", "binary" or "local".

    Returns:
      (the config File, the image and stamp Files the launcher needs in its runfiles).
    """
    images = {}
    files = []

    # `--@rules_pipeline//bazel:remote_cache` (NAME_push, and NAME: it pushes, then the launch script runs what was
    # pushed, by reference): the push reads the layouts without layer blobs and streams each layer the registry lacks
    # from the cache, so `bazel run` downloads no layer.
    remote_cache = ""
    if mode in ("push", "run"):
        remote_cache = remote_cache_url(ctx.label, ctx.attr._remote_cache[StringFlagInfo].value)
    for target, name in ctx.attr.images.items():
        layout, digest, sbom = _image_files(target, remote_cache != "")
        files.extend([layout, digest] + ([sbom] if sbom else []))
        if name in images:
            fail("{}: `images`: two images are named {}".format(ctx.label, repr(name)))
        images[name] = {
            "name": name,
            "layout": rlocation(ctx, layout),
            "digestFile": rlocation(ctx, digest),
        }
        if sbom:
            images[name]["sbomFile"] = rlocation(ctx, sbom)
    if len(images) > 0:
        validate_target(ctx.label, ctx.attr.registry, ctx.attr.repository)
    for t in ctx.attr.tags_to_push:
        if not t or ":" in t or "@" in t or "/" in t:
            fail("{}: `tags_to_push` entry {} is not a valid tag (no \":\", \"@\" or \"/\")".format(ctx.label, repr(t)))
        err = placeholder_error(t)
        if err:
            fail("{}: `tags_to_push` entry {}: {}".format(ctx.label, repr(t), err))
    cfg = {
        "label": display_label(ctx.label),
        "mode": mode,
        "workspace": ctx.workspace_name,
        "registry": ctx.attr.registry,
        "repository": ctx.attr.repository,
        "tags": ctx.attr.tags_to_push,
        "insecure": ctx.attr.insecure,
        "images": [images[n] for n in sorted(images.keys())],
        "env": ctx.attr.env,
    }
    if remote_cache:
        cfg["remoteCache"] = remote_cache

    # Stamped: the launcher reads the workspace status files from its runfiles to expand `{KEY}` in tags.
    stamp = stamp_files(ctx) if images else []
    if stamp:
        cfg["stampFiles"] = [rlocation(ctx, f) for f in stamp]
        files = files + stamp
    key = _sign_key(ctx, mode)
    if key:
        cfg["signKey"] = rlocation(ctx, key)
        files = files + [key]
    if mode in ("push", "run"):
        # Hashed into the signed provenance when the push signs; read by no action.
        lockfiles = depset(transitive = [getattr(t[PipelineImageInfo], "npm_lockfiles", depset()) for t in ctx.attr.images]).to_list()
        cfg["lockfiles"] = [{"name": display_label(f.owner), "path": rlocation(ctx, f)} for f in lockfiles]
        files = files + lockfiles
    app = getattr(ctx.attr, "app", None)
    if app:
        cfg["entry"] = rlocation(ctx, app[PipelineAppInfo].entry)
    preload = getattr(ctx.file, "_preload", None)
    if preload:
        cfg["preload"] = rlocation(ctx, preload)
    out = ctx.actions.declare_file(ctx.label.name + ".launch.json")
    ctx.actions.write(out, json.encode(cfg))
    return out, files

def write_launcher(ctx, body):
    """Writes the executable bash launcher: find the runfiles, export the CLI's location, then `body`.

    Args:
      ctx: the rule context.
      body: bash lines that exec Node.

    Returns:
      The executable File.
    """
    exe = declare_launcher(ctx)
    entry = ctx.file._cli
    ctx.actions.write(exe, "\n".join([
        "#!/usr/bin/env bash",
        "# Generated by rules_pipeline for {}. Finds the runfiles and hands over to Node.".format(display_label(ctx.label)),
        "set -euo pipefail",
        runfiles_root_snippet(),
        'export {}="$R"'.format(ENV.RUNFILES_DIR),
        # The pipeline CLI, for the runtime library's runInContainer() (`pipeline run --image ...`).
        'rl {} "{}"'.format(ENV.CLI_NODE, rlocation(ctx, ctx.file._node)),
        'rl {} "{}"'.format(ENV.CLI, rlocation(ctx, entry)),
        'rl {} "{}"'.format(ENV.CLI_NODE_MODULES, tools_node_modules(ctx, runfiles = True)),
        # Runs PIPELINE_CLI with the V8 code cache, as cli_exec below does (tools/bundle-loader.ts).
        'rl {} "{}"'.format(ENV.CLI_LOADER, rlocation(ctx, ctx.file._cli_loader)),
        "export " + " ".join([ENV.CLI_NODE, ENV.CLI, ENV.CLI_NODE_MODULES, ENV.CLI_LOADER]),
        body,
        "",
    ]), is_executable = True)
    return exe

def tool_runfiles(ctx):
    """The runfiles every launcher carries (Node, the CLI's loader and bundle, the tools' npm packages).

    Args:
      ctx: the rule context.

    Returns:
      The runfiles.
    """

    # The loader's runfiles: its package.json (js_bundle.bzl).
    return ctx.runfiles(files = [ctx.file._node, ctx.file._node_version, ctx.file._cli_loader], transitive_files = depset(transitive = [
        cli_files(ctx),
        ctx.attr._cli_loader[DefaultInfo].default_runfiles.files,
        ctx.attr._tools_npm[DefaultInfo].files,
    ]))

def ca_swap(ctx):
    """Bash that sets `_ca` to the Node flags of the CLI: `--use-openssl-ca` in place of NODE_EXTRA_CA_CERTS.

    Node before 22 builds its whole CA store as it starts when NODE_EXTRA_CA_CERTS is set, its own roots and the
    file's (~30 ms of a push here; Node 22 and later read them on the first TLS connection). Where the variable names
    the very file OpenSSL's store is read from (SSL_CERT_FILE, as Debian-based images set both), the CLI's Node
    trusts that store instead, read on its first TLS connection, and the variable is kept aside
    (ENV.NODE_EXTRA_CA_CERTS) for the loader to put back for the programs the CLI starts (tools/bundle-loader.ts):
    credential helpers, and `bazel-run`'s launch script, which starts as the user's environment says. Nothing changes
    otherwise, nor when NODE_OPTIONS chooses `--use-bundled-ca`.

    Args:
      ctx: the rule context (`_node_version`).

    Returns:
      The bash lines; `${_ca[@]+"${_ca[@]}"}` expands to the flags.
    """
    return "\n".join([
        "_ca=()",
        'rl _node_version "{}"'.format(rlocation(ctx, ctx.file._node_version)),
        'if [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -n "${SSL_CERT_FILE:-}" && "$NODE_EXTRA_CA_CERTS" -ef "$SSL_CERT_FILE" &&',
        '      " ${NODE_OPTIONS:-} " != *" --use-bundled-ca "* ]] && IFS=. read -r _node_major _ <"$_node_version" &&',
        '   [[ "$_node_major" =~ ^[0-9]+$ ]] && (( _node_major < 22 )); then',
        '  export {}="$NODE_EXTRA_CA_CERTS"'.format(ENV.NODE_EXTRA_CA_CERTS),
        "  unset NODE_EXTRA_CA_CERTS",
        "  _ca=(--use-openssl-ca)",
        "fi",
    ])

def cli_exec(ctx, command, cfg):
    """Bash that execs `pipeline COMMAND --config CFG` with the launcher's arguments: the body of a `write_launcher`.

    Runs the Node, loader and CLI that write_launcher has exported (PIPELINE_CLI_NODE, PIPELINE_CLI_LOADER,
    PIPELINE_CLI), with the tools' npm tree as PIPELINE_TOOLS_NODE_MODULES.

    Args:
      ctx: the rule context.
      command: "bazel-push" or "bazel-run".
      cfg: the launch config File.

    Returns:
      The bash lines.
    """
    return "\n".join([
        ca_swap(ctx),
        'export {}="${}"'.format(ENV.TOOLS_NODE_MODULES, ENV.CLI_NODE_MODULES),
        'rl _config "{}"'.format(rlocation(ctx, cfg)),
    ] + ([
        # The resident push daemon runs the push when it can, without a Node of its own (push_client.sh).
        'rl _pd_client "{}"'.format(rlocation(ctx, ctx.file._push_client)),
        'source "$_pd_client"',
        'if _push_daemon "$@"; then exit "$_pd_code"; fi',
    ] if command == "bazel-push" else []) + [
        # `bazel-run` hands every argument to the launch script; `bazel-push` parses them (--repository, --tag).
        # The loader runs the CLI's bundle with a V8 code cache (tools/bundle-loader.ts). The CLI's Node may take
        # `ca_swap`'s flag: `bazel-run`'s pushes, then starts the user's launch script as its child, which gets neither
        # the flag nor the swap (the loader puts the variable back first).
        'exec "${}" ${{_ca[@]+"${{_ca[@]}}"}} "${}" "${}" {} --config "$_config" {}"$@"'.format(
            ENV.CLI_NODE,
            ENV.CLI_LOADER,
            ENV.CLI,
            command,
            "-- " if command == "bazel-run" else "",
        ),
    ])

# The attributes of both rules: where images go and what the launch script gets.
LAUNCHER_ATTRS = dict({
    "images": attr.label_keyed_string_dict(doc = "pipeline_image targets → image name (\"default\" for the main one)."),
    "registry": attr.string(doc = "Registry host[:port], e.g. \"ghcr.io\" or \"localhost:5000\"."),
    "repository": attr.string(doc = "Repository inside the registry, without tag or digest."),
    "tags_to_push": attr.string_list(doc = """Tags to push besides the digest. `{KEY}` placeholders (workspace status keys, e.g.
`"{BUILD_EMBED_LABEL}"`, `"git-{STABLE_GIT_COMMIT}"`) are expanded when stamping; a tag whose keys are not all set
(or any placeholder, unstamped) is skipped with a message naming it."""),
    "insecure": attr.bool(default = False, doc = "Allow plain HTTP / unverified TLS to a non-loopback registry."),
    "env": attr.string_dict(doc = "Environment of the launch script (the caller's environment wins for variables it sets)."),
    # The key's password is never an attribute nor an --action_env (Bazel would keep it in action keys and caches):
    # the push reads it at run time. Bazel 4.2.3 writes `bazel run`'s client environment into java.log in the output
    # base, and shows the value of a variable only when its name does not contain PASS (commit 6d1f1e2):
    # COSIGN_PASSWORD is shown as __private_value_removed__, a password in a variable named otherwise would be logged.
    "sign_key": attr.label(allow_single_file = True, doc = """A cosign private key (`cosign generate-key-pair`'s encrypted
`cosign.key`, a source file): the push signs each image (cosign 3's Sigstore bundle referrer) and attaches a signed SLSA
provenance. Its password is read when pushing, from `$COSIGN_PASSWORD`, `$PIPELINE_SIGN_PASSWORD_FILE` or
`-- --sign-password-file FILE`. The key is only linked into the runfiles tree, never read by an action nor copied into
outputs or caches. `-- --sign-key FILE` and `$PIPELINE_SIGN_KEY` override it."""),
    "_remote_cache": attr.label(
        default = "//bazel:remote_cache",
        providers = [StringFlagInfo],
        doc = "`--@rules_pipeline//bazel:remote_cache`: the HTTP cache the push streams layers from (unset: the whole layout is pushed).",
    ),
    "_node_version": attr.label(
        default = "@rules_pipeline//bazel/private:node_version",
        allow_single_file = True,
        cfg = "exec",
        doc = "The version of the launchers' Node (`@rules_pipeline_node//:version.txt`), which the push and run launchers' `ca_swap` reads.",
    ),
}, **dict(LAUNCHER_TOOL_ATTRS, **STAMP_ATTRS))
