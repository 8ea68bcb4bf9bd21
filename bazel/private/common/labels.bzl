"""How a label is shown to users (progress messages, the compiler's hints, launch configs, the image's SBOM).

`str(label)` of a main-repository label depends on the Bazel version and mode: `//pkg:x` on Bazel 4-5, `@//pkg:x`
under WORKSPACE on 6+, `@@//pkg:x` under bzlmod. Users write `//pkg:x`, and outputs that embed the label (the SBOM)
must not change with the mode, so everything shown goes through `display_label`.
"""

def display_label(label, name = None):
    """The label as users write it: `//pkg:name` in the main repository, else `@repo//pkg:name`.

    Another repository keeps the form `str(label)` gives it (`@repo` under WORKSPACE, `@@canonical` under bzlmod):
    its apparent name is not known here.

    Args:
      label: a Label.
      name: the target name to show instead of `label.name` (same package), or None.

    Returns:
      A string.
    """
    target = "//{}:{}".format(label.package, name or label.name)
    if not label.workspace_name:
        return target
    return ("@@" if str(label).startswith("@@") else "@") + label.workspace_name + target

def target_display_label(ctx):
    """`display_label` of the target being analysed, under the name its `display_name` attribute gives, if any.

    The `pipeline` macro sets `display_name` on its internal targets (`etl_app`), so that their messages name the
    target the user declared (`//pkg:etl`).

    Args:
      ctx: a rule context.

    Returns:
      A string.
    """
    return display_label(ctx.label, getattr(ctx.attr, "display_name", "") or None)
