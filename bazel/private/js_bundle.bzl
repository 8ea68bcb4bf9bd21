"""js_bundle: one self-contained JavaScript file from compiled CommonJS and its npm packages (esbuild)."""

load(":labels.bzl", "display_label")
load(":providers.bzl", "NpmPackageInfo")

_DOC = """Bundles `entry` (a file among `srcs`' outputs) and everything it requires into one CommonJS file, except
the packages in `external`, which stay `require()`s resolved at run time. Used for the `pipeline` CLI that build
actions run: one input file instead of hundreds.
"""

def _js_bundle_impl(ctx):
    entry = None
    for f in ctx.attr.srcs[DefaultInfo].files.to_list():
        if f.short_path == ctx.attr.entry or f.short_path.endswith("/" + ctx.attr.entry):
            entry = f
    if entry == None:
        fail("{}: `entry` {} is not among the outputs of {}".format(ctx.label, repr(ctx.attr.entry), ctx.attr.srcs.label))
    esbuild_main = None
    for f in ctx.attr._esbuild[DefaultInfo].files.to_list():
        if f.path.endswith("/node_modules/esbuild/lib/main.js"):
            esbuild_main = f
    if esbuild_main == None:
        fail("{}: `_esbuild` has no esbuild/lib/main.js".format(ctx.label))
    roots = {}
    for d in ctx.attr.deps:
        if NpmPackageInfo not in d:
            fail("{}: `deps` takes npm packages (npm_dependencies targets), got {}".format(ctx.label, d.label))
        roots[d[NpmPackageInfo].root] = True
    if len(roots) > 1:
        fail("{}: `deps` must come from one node_modules tree, got {}".format(ctx.label, sorted(roots.keys())))
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".js")
    args = ctx.actions.args()
    args.add_all([ctx.file._bundler, esbuild_main, entry, out])
    args.add(roots.keys()[0] if roots else esbuild_main.dirname)
    args.add_all(ctx.attr.external, before_each = "--external")
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [args],
        inputs = depset([ctx.file._bundler], transitive = [ctx.attr.srcs[DefaultInfo].files, ctx.attr._esbuild[DefaultInfo].files] + [d[DefaultInfo].files for d in ctx.attr.deps]),
        outputs = [out],
        mnemonic = "JsBundle",
        progress_message = "Bundling {}".format(display_label(ctx.label)),
    )
    return [DefaultInfo(files = depset([out]))]

js_bundle = rule(
    implementation = _js_bundle_impl,
    doc = _DOC,
    attrs = {
        "srcs": attr.label(mandatory = True, doc = "Target whose outputs hold `entry` and the modules it requires."),
        "entry": attr.string(mandatory = True, doc = "Path of the entry file, relative to the package of `srcs`."),
        "deps": attr.label_list(doc = "npm packages the bundle includes (`@npm//:node_modules/x`)."),
        "external": attr.string_list(doc = "Packages left out of the bundle (`require()`d at run time), e.g. `@aws-sdk/*`."),
        "out": attr.string(doc = "Output file name (default `<name>.js`)."),
        "_bundler": attr.label(default = "//bazel/private:esbuild_bundle.js", allow_single_file = True),
        "_esbuild": attr.label(default = "@rules_pipeline_npm//:node_modules/esbuild", cfg = "exec"),
        "_node": attr.label(default = "@rules_pipeline_node//:bin/node", allow_single_file = True, executable = True, cfg = "exec"),
    },
)
