"""A string command-line build setting (`--//pkg:name=VALUE`), read by rules through `StringFlagInfo`."""

load("//bazel/private/common:providers.bzl", "StringFlagInfo")

def _string_flag_impl(ctx):
    return [StringFlagInfo(value = ctx.build_setting_value)]

string_flag = rule(
    implementation = _string_flag_impl,
    doc = "A string build setting set on the command line; `build_setting_default` is its value otherwise.",
    build_setting = config.string(flag = True),
)
