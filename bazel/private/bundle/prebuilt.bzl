"""prebuilt_or_built: one of rules_pipeline's own tools, prebuilt in the release archive or built from its sources."""

def prebuilt_or_built(name, prebuilt, build, **kwargs):
    """The tool `name`: the release archive's prebuilt files when they are there, else `build(name = name, **kwargs)`.

    scripts/release.sh builds the CLI's bundle, its loader, the launchers' preload, the TypeScript actions' runner and
    snapshot builder, and the runtime library into the archive's `prebuilt/` directory (bootstrap/esbuild_bundle.js
    and src/tsc/transpile.ts, as the rules would), so a
    consumer's first build runs none of our tools' actions and downloads no esbuild or TypeScript for them. A checkout
    has no `prebuilt/`: the tools are built from src/ and tools/, so an edit takes effect.

    Args:
      name: the target's name.
      prebuilt: the prebuilt files (paths in this package); a `.lazy.js` file (the bundle's second file,
        src/cli/lazy-bundle.ts) is in the runfiles only, not among the target's files, as js_bundle has it.
      build: the rule that builds the tool from its sources.
      **kwargs: `build`'s attributes.
    """
    present = native.glob(prebuilt, allow_empty = True)
    if not present:
        build(name = name, **kwargs)
        return
    if sorted(present) != sorted(prebuilt):
        fail("prebuilt_or_built {}: the release archive holds only some of `prebuilt` {}: {}".format(name, prebuilt, present))
    native.filegroup(
        name = name,
        srcs = [f for f in prebuilt if not f.endswith(".lazy.js")],
        # In the runfiles too, as a built tool's are (a filegroup's runfiles hold its `data` only).
        data = prebuilt,
        visibility = kwargs.get("visibility"),
    )
