"""stamp_setting and the helpers of the `stamp` attribute, as rules_oci and bazel-lib do it.

`--stamp` is read through `config_setting(values = {"stamp": "1"})` (bazel/private/flags:stamp_detect) into a
`StampSettingInfo`; a rule with `STAMP_ATTRS` stamps when its `stamp` is 1, or -1 and the build has `--stamp`. Only
then do the workspace status files (`ctx.info_file`, `ctx.version_file`) become inputs: an unstamped action has none,
so its outputs (and image digests) do not depend on the time, the host or the commit.
"""

load("//bazel/private/common:providers.bzl", "StampSettingInfo")

def _stamp_setting_impl(ctx):
    return [StampSettingInfo(value = ctx.attr.value)]

stamp_setting = rule(
    implementation = _stamp_setting_impl,
    doc = "Exposes whether the build stamps; `value` is a select() on `stamp_detect`.",
    attrs = {"value": attr.bool(doc = "True when stamping.")},
)

STAMP_ATTRS = {
    "stamp": attr.int(
        default = -1,
        values = [-1, 0, 1],
        doc = """Whether to stamp: 1 always, 0 never, -1 (default) when the build has `--stamp`. Stamping expands
`{KEY}` placeholders (keys of the workspace status: `--workspace_status_command` output, `BUILD_EMBED_LABEL`,
`BUILD_TIMESTAMP`...) in tags, labels and annotations.""",
    ),
    "_stamp_setting": attr.label(default = "@rules_pipeline//bazel/private/flags:stamp_setting", providers = [StampSettingInfo]),
}

def stamp_files(ctx):
    """The workspace status files (stable, volatile) when this target stamps, else [].

    Args:
      ctx: the rule context of a target with `stamp` and `_stamp_setting`.

    Returns:
      A list of Files: [ctx.info_file, ctx.version_file] or [].
    """
    stamp = ctx.attr.stamp
    if stamp == 1 or (stamp == -1 and ctx.attr._stamp_setting[StampSettingInfo].value):
        return [ctx.info_file, ctx.version_file]
    return []

def _is_key_char(c, first):
    return c == "_" or c.isalpha() or (not first and c.isdigit())

def placeholder_error(value):
    """Why `value` has a malformed `{KEY}` placeholder (a `{` or `}` that is not part of one), or None.

    Args:
      value: the string to check.

    Returns:
      A message naming the offset of the bad brace, or None when `value` is well-formed.
    """
    i = 0
    n = len(value)
    for _ in range(n + 1):
        if i >= n:
            return None
        c = value[i]
        if c == "}":
            return "\"}\" at offset {} closes no placeholder".format(i)
        if c != "{":
            i += 1
            continue
        end = value.find("}", i + 1)
        if end < 0:
            return "\"{{\" at offset {} is not closed".format(i)
        key = value[i + 1:end]
        if not key or not all([_is_key_char(key[j], j == 0) for j in range(len(key))]):
            return "{} is not a placeholder (`{{KEY}}`: letters, digits and _, not starting with a digit)".format(repr(value[i:end + 1]))
        i = end + 1
    return None
