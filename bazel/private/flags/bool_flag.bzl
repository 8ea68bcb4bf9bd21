"""A boolean command-line build setting (`--//pkg:name` / `--no//pkg:name`), read through `config_setting(flag_values = ...)`."""

def _bool_flag_impl(_ctx):
    return []

bool_flag = rule(
    implementation = _bool_flag_impl,
    doc = "A boolean build setting set on the command line; `build_setting_default` is its value otherwise.",
    build_setting = config.bool(flag = True),
)
