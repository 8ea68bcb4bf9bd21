"""pipeline_image's config attributes, in one place: their docs, their validation (each `fail()` names the attribute
and quotes the bad value) and their JSON for the CLI's `pipeline image --config` (src/image/compose.ts
`ComposeOptions`, each attribute under its camelCase name). The `pipeline` macro forwards these from its `**kwargs` to
each image; adding one means adding it here and in `ComposeOptions`."""

load("//bazel/private/flags:stamp.bzl", "placeholder_error")

IMAGE_CONFIG_ATTRS = {
    "env": attr.string_dict(doc = "Environment variables of the image (added to the base's; same keys override)."),
    "labels": attr.string_dict(doc = "Image config labels. Values may hold `{KEY}` placeholders, expanded when stamping (see `stamp`)."),
    "annotations": attr.string_dict(doc = "Manifest annotations. Values may hold `{KEY}` placeholders, expanded when stamping (see `stamp`)."),
    "entrypoint": attr.string_list(doc = "Overrides the entrypoint `[\"node\", \"/app/<entry>.js\"]`. Breaks the image contract (C2); for experts."),
    "cmd": attr.string_list(doc = "Default arguments of the entrypoint (empty by default; non-empty breaks the image contract, C2)."),
    "user": attr.string(doc = "User the container runs as: `USER` or `USER:GROUP`, names (from the image's /etc/passwd, /etc/group) or numeric ids, e.g. `\"1000:1000\"`. The base's by default (root when it sets none, which verify-image warns about)."),
    "exposed_ports": attr.string_list(doc = "Ports like `8080/tcp` or `8080` (tcp), added to the base's."),
    "volumes": attr.string_list(doc = "Absolute paths marked as volumes (config `Volumes`), added to the base's."),
    "workdir": attr.string(doc = "Working directory (absolute). Default `/app`; anything else breaks the image contract (C3)."),
}

def _camel(name):
    parts = name.split("_")
    return parts[0] + "".join([p[:1].upper() + p[1:] for p in parts[1:]])

def image_config_json(ctx):
    """The values of IMAGE_CONFIG_ATTRS, each under its camelCase name (the keys of `ComposeOptions`).

    Args:
      ctx: the rule context of a target with those attributes.

    Returns:
      A dict for `json.encode`.
    """
    return {_camel(name): getattr(ctx.attr, name) for name in IMAGE_CONFIG_ATTRS}

_PROTOCOLS = ["tcp", "udp", "sctp"]

def _is_uint(s):
    return s != "" and s.isdigit()

def _is_name(s):
    # POSIX-ish user and group names: letters, digits, `_`, `-`, `.`, not starting with `-`.
    if not s or s.startswith("-"):
        return False
    return all([c.isalnum() or c in "_-." for c in s.elems()])

def _check_port(label, p):
    number, _, proto = p.partition("/")
    if not _is_uint(number) or len(number) > 5 or int(number) < 1 or int(number) > 65535 or ("/" in p and proto not in _PROTOCOLS):
        fail("{}: `exposed_ports` entry {} is not a port: expected \"8080\" or \"8080/tcp\" (1-65535, tcp/udp/sctp)".format(label, repr(p)))

def _check_abs_path(label, attr_name, p):
    if not p.startswith("/") or "\n" in p or "/../" in p + "/" or p != p.strip():
        fail("{}: `{}` must be an absolute path (like \"/data\"), got {}".format(label, attr_name, repr(p)))

def _check_user(label, user):
    parts = user.split(":")
    if len(parts) > 2 or not all([_is_uint(x) or _is_name(x) for x in parts]):
        fail("{}: `user` must be USER or USER:GROUP, each a name or a numeric id (e.g. \"1000:1000\", \"node\"), got {}".format(label, repr(user)))

def validate_image_config(ctx):
    """Fails on a malformed `env`, `exposed_ports`, `volumes`, `workdir`, `user` or a malformed placeholder in `labels`/`annotations`.

    Args:
      ctx: the rule context of a target with those attributes.
    """
    label = ctx.label
    for k in ctx.attr.env.keys():
        if not k or "=" in k:
            fail("{}: `env` key {} is not a valid variable name".format(label, repr(k)))
    for p in ctx.attr.exposed_ports:
        _check_port(label, p)
    for v in ctx.attr.volumes:
        _check_abs_path(label, "volumes", v)
    if ctx.attr.workdir:
        _check_abs_path(label, "workdir", ctx.attr.workdir)
    if ctx.attr.user:
        _check_user(label, ctx.attr.user)
    for attr_name in ["labels", "annotations"]:
        for k, v in getattr(ctx.attr, attr_name).items():
            err = placeholder_error(v)
            if err:
                fail("{}: `{}` value of {}: {}; got {}".format(label, attr_name, repr(k), err, repr(v)))
