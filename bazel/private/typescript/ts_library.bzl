"""ts_library: TypeScript shared across packages, compiled to .js and .d.ts."""

load("//bazel/private/common:providers.bzl", "NpmPackageInfo", "TsLibraryInfo")
load("//bazel/private/npm:npm_package.bzl", "npm_lockfiles")
load(":ts_compile_action.bzl", "TS_ATTRS", "foreign_compile_inputs", "ts_compile_action", "tsconfig_of")

_DOC = """Compiles a package's TypeScript to CommonJS `.js` and `.d.ts` for other packages to use.

Usage:

    # lib/BUILD.bazel
    ts_library(
        name = "lib",
        srcs = glob(["*.ts"]),
        deps = ["@npm//:node_modules/zod"],
        module_name = "@acme/lib",      # optional: also importable as "@acme/lib"
        visibility = ["//visibility:public"],
    )

    # pipelines/etl/BUILD.bazel
    pipeline(name = "etl", entry = "main.ts", deps = ["//lib"], ...)

Users import it by relative path (`import { x } from "../../lib"`) or, with `module_name`, by that name
(`import { x } from "@acme/lib"`, `"@acme/lib/sub"`): `node_modules/<module_name>` leads to the library's files in
`_local`/`_binary` runs (a symlink per file) and in the image (one symlink to the library's directory, so the files
are stored once). Pick one way per program: `_local`/`_binary` runs keep symlinks (`--preserve-symlinks`), so there
the two paths load two copies of the module (in the image, Node resolves the symlink and loads one).
`import "@acme/lib"` loads `index.js`, so give the library an `index.ts`. The library's npm deps reach its
users (their declarations for compiling, their files for running, their lockfile for the image's SBOM), and so do
rules_js packages (`//:node_modules/zod` of `npm_link_all_packages`) and rules_ts `ts_project` targets in `deps`.
Compile actions of users read only the library's `.d.ts`, so a change inside a function body recompiles the library
alone.
"""

def _module_name_ok(name):
    if not name or name != name.strip() or name.startswith(".") or name.startswith("/") or name.endswith("/"):
        return False
    parts = name.split("/")
    if name.startswith("@"):
        return len(parts) == 2 and len(parts[0]) > 1 and parts[1] != ""
    return len(parts) == 1

def _ts_library_impl(ctx):
    if ctx.attr.module_name and not _module_name_ok(ctx.attr.module_name):
        fail("{}: `module_name` must be an npm package name like \"acme-lib\" or \"@acme/lib\", got {}".format(ctx.label, repr(ctx.attr.module_name)))
    js, dts, passthrough = ts_compile_action(ctx, ctx.files.srcs, ctx.attr.deps, True, tsconfig_of(ctx), ctx.file._runtime_types, ctx.files.data)
    pkg = (ctx.label.workspace_root + "/" if ctx.label.workspace_root else "") + ctx.label.package

    declarations = [depset(dts + [f for f in passthrough if f.basename.endswith(".d.ts") or f.extension == "json"])]
    npm_types = []
    npm_roots = []
    bin_links = []
    mappings = [depset([(ctx.attr.module_name, pkg)] if ctx.attr.module_name else [])]
    for d in ctx.attr.deps:
        if TsLibraryInfo in d:
            info = d[TsLibraryInfo]
            declarations.append(info.declarations)
            npm_types.append(info.npm_types)
            npm_roots.append(info.npm_roots)
            mappings.append(info.module_mappings)
            bin_links.append(info.npm_bin_links)
        elif NpmPackageInfo in d:
            npm_types.append(d[NpmPackageInfo].types)
            npm_roots.append(depset([d[NpmPackageInfo].root]))
            bin_links.append(d[NpmPackageInfo].bin_links)
        else:
            # A rules_js package (`//:node_modules/zod`), a rules_ts ts_project...: users compile against it too.
            files, roots = foreign_compile_inputs(d)
            npm_types.append(files)
            npm_roots.append(depset(roots))

    runfiles = ctx.runfiles(files = js + passthrough + ctx.files.data)
    for d in ctx.attr.deps + ctx.attr.data:
        runfiles = runfiles.merge(d[DefaultInfo].default_runfiles).merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
    return [
        DefaultInfo(files = depset(js + dts + passthrough), runfiles = runfiles),
        TsLibraryInfo(
            declarations = depset(transitive = declarations),
            npm_types = depset(transitive = npm_types),
            npm_roots = depset(transitive = npm_roots),
            module_mappings = depset(transitive = mappings),
            npm_bin_links = depset(transitive = bin_links),
            npm_lockfiles = npm_lockfiles(ctx.attr.deps + ctx.attr.data),
        ),
    ]

ts_library = rule(
    implementation = _ts_library_impl,
    doc = _DOC,
    attrs = dict({
        "srcs": attr.label_list(allow_files = [".ts", ".tsx", ".mts", ".cts", ".js", ".cjs", ".mjs", ".json"], doc = "Sources in this package (or below it)."),
        "deps": attr.label_list(allow_files = True, doc = "Other `ts_library` targets, npm packages (`@npm//:node_modules/x`), rules_js packages (`//:node_modules/x`) and rules_ts `ts_project` targets."),
        "data": attr.label_list(allow_files = True, doc = "Files the library reads at run time."),
        "module_name": attr.string(doc = "Also make the library importable under this npm package name, e.g. \"@acme/lib\"."),
    }, **TS_ATTRS),
)
