"""js_bundle: one self-contained CommonJS file from TypeScript (or JavaScript) sources and their npm packages (esbuild)."""

load("//bazel/private/common:labels.bzl", "display_label")
load("//bazel/private/common:providers.bzl", "NpmPackageInfo")

_DOC = """Bundles `entry` and everything it imports into one CommonJS file, straight from TypeScript (esbuild strips
the types; nothing is type-checked), except the packages in `external`, which stay `require()`s resolved at run time.
Used for the `pipeline` CLI that build actions run: one input file instead of hundreds, and no tsc compile.

Only declared inputs are bundled: a `require` that resolves to a file outside `srcs` and `deps` (e.g. a
`node_modules` at the workspace root, which Bazel links into the execroot) fails the action, naming the importer,
the request and the file. Optional requires (`try { require("typescript") } catch {}`) belong in `external`.

With `lazy_runtime`, the bundle is two files: `<out>` holds what `entry` loads statically, `<out without .js>.lazy.js`
the modules it loads with `import()` (and what only they import), read when one of them is first needed
(`lazy_runtime`'s module does that, src/cli/lazy-bundle.ts): start-up compiles only the first file. The target's files
are the first file; its runfiles hold both, and an action running the first file needs the second among its inputs.

The files are written to a directory named after the target (`<name>/<out>`), beside a `package.json` that says
`"type": "commonjs"` (in the runfiles too): Node takes a `.js` file's module type from the nearest package.json above
it, and above `bazel-out/` in the execroot is the consumer's workspace root, whose package.json says
`"type": "module"` in an ES module project: without its own, the bundle was loaded as an ES module and failed
(`require is not defined`).
"""

def _js_bundle_impl(ctx):
    entry = ctx.file.entry
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
    out = ctx.actions.declare_file(ctx.label.name + "/" + (ctx.attr.out or ctx.label.name + ".js"))
    scope = ctx.actions.declare_file("package.json", sibling = out)
    ctx.actions.write(scope, '{"type": "commonjs"}\n')
    if not out.basename.endswith(".js"):
        fail("{}: `out` must end with .js (the second file of a split bundle is named after it), got {}".format(ctx.label, repr(ctx.attr.out)))
    runtime = ctx.file.lazy_runtime
    lazy = ctx.actions.declare_file(out.basename[:-len(".js")] + ".lazy.js", sibling = out) if runtime else None
    if runtime and runtime not in ctx.files.srcs:
        fail("{}: `lazy_runtime` must be one of `srcs`, got {}".format(ctx.label, runtime.short_path))

    # What the bundle may contain: the bundler refuses any module that resolves outside these (esbuild_bundle.js).
    bundled = depset([entry] + ctx.files.srcs, transitive = [d[DefaultInfo].files for d in ctx.attr.deps])
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add(esbuild_main)
    args.add(roots.keys()[0] if roots else esbuild_main.dirname)
    args.add_all(["--bundle", entry, out])
    if lazy:
        args.add_all(["--lazy", lazy, runtime])
    args.add_all(ctx.attr.external, before_each = "--external")
    args.add_all(bundled, before_each = "--input")
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._bundler.path, args],
        inputs = depset([ctx.file._bundler], transitive = [bundled, ctx.attr._esbuild[DefaultInfo].files]),
        outputs = [out, lazy] if lazy else [out],
        mnemonic = "JsBundle",
        progress_message = "Bundling {}".format(display_label(ctx.label)),
    )

    # In its own runfiles (with its second file and its package.json): a launcher that loads the bundle
    # (`node --require`) merges them, an action that runs it has them among its inputs (tools.bzl, cli_files).
    runfiles = ctx.runfiles(files = [out, scope] + ([lazy] if lazy else []))
    return [DefaultInfo(files = depset([out]), runfiles = runfiles)]

js_bundle = rule(
    implementation = _js_bundle_impl,
    doc = _DOC,
    attrs = {
        "entry": attr.label(mandatory = True, allow_single_file = True, doc = "The entry file (`.ts` or `.js`)."),
        "srcs": attr.label_list(allow_files = True, doc = "The files `entry` imports, and the tsconfig.json esbuild reads their settings from."),
        "deps": attr.label_list(doc = "npm packages the bundle includes (`@npm//:node_modules/x`)."),
        "external": attr.string_list(doc = "Packages left out of the bundle (`require()`d at run time), e.g. `@aws-sdk/*`; optional requires too, e.g. `typescript`."),
        "out": attr.string(doc = "Output file name, ending with .js (default `<name>.js`)."),
        "lazy_runtime": attr.label(
            allow_single_file = [".ts", ".js"],
            doc = "Splits the bundle in two files (see above): the module, one of `srcs`, that loads the second file when a dynamically imported module is first needed.",
        ),
        "_bundler": attr.label(default = "//bootstrap:esbuild_bundle.js", allow_single_file = True),
        "_esbuild": attr.label(default = "@rules_pipeline//bazel/private:esbuild", cfg = "exec"),
        "_node": attr.label(default = "@rules_pipeline//bazel/private:node", allow_single_file = True, executable = True, cfg = "exec"),
    },
)
