"""The platform grammar (`os/arch[/variant]`, e.g. "linux/arm64/v8") checked at analysis time, as src/oci/platform.ts does."""

load(":grammar.bzl", "is_platform_part")

def validate_platforms(where, attr_name, platforms):
    """Fails naming the attribute and the value unless each entry is `os/arch[/variant]`, once.

    Args:
      where: the target or repository, for the message.
      attr_name: the attribute the list comes from.
      platforms: the list to check.
    """
    if type(platforms) != type([]):
        fail("{}: `{}` must be a list of \"os/arch[/variant]\" strings, got {}".format(where, attr_name, repr(platforms)))
    seen = {}
    for p in platforms:
        parts = p.split("/") if type(p) == type("") else []
        if len(parts) < 2 or len(parts) > 3 or [x for x in parts if not is_platform_part(x)]:
            fail("{}: `{}` entry should be os/arch[/variant] (e.g. \"linux/amd64\", \"linux/arm64/v8\"). got: {}".format(where, attr_name, repr(p)))
        if p in seen:
            fail("{}: `{}` lists {} twice".format(where, attr_name, repr(p)))
        seen[p] = True
