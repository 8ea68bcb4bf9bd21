"""Providers the rules hand each other. The on-disk formats (OCI layouts, node_modules trees) stay the contract with
other rulesets; these only carry what Bazel needs to keep each action's inputs down to what it reads."""

NpmPackageInfo = provider(
    doc = """An npm package and its transitive dependencies, as installed by `npm_dependencies`.""",
    fields = {
        "repo_name": "string: the name of the `npm_dependencies` repository as users write it in labels (`npm` in `@npm//:node_modules/ms`), for hints; never the canonical name bzlmod gives the repository (`rules_pipeline~~pipeline~npm`)",
        "root": "string: the exec path of the node_modules directory the files live in (e.g. `external/npm/node_modules`)",
        "files": "depset of Files: every file of the package and its dependencies (what runs)",
        "types": "depset of Files: what the TypeScript compiler reads: package.json files and declarations (.d.ts), plus the file an untyped package resolves to",
        "bin_links": "depset of strings `name<TAB>target`: the `node_modules/.bin` commands of these packages, target relative to node_modules",
        "lockfiles": "depset of Files: the lockfile these packages were installed from, `package-lock.json` beside the `node_modules` directory (`npm_dependencies` keeps its copy of the lockfile there). Read only by the image action, for the SBOM's integrity and resolved URL: never a compile or layer input. Empty when unknown (the SBOM then names the packages without them)",
    },
)

TsLibraryInfo = provider(
    doc = """Compiled TypeScript (`ts_library`): what its users compile against and what they run.""",
    fields = {
        "declarations": "depset of Files: .d.ts of this library and of the libraries it depends on",
        "npm_types": "depset of Files: type surface of the npm packages this library and its deps use",
        "npm_roots": "depset of strings: exec paths of the node_modules directories those packages live in",
        "module_mappings": "depset of (module_name, package path) tuples, this library's and its deps'",
        "npm_bin_links": "depset of strings `name<TAB>target`: `node_modules/.bin` commands of the npm packages this library and its deps use",
        "npm_lockfiles": "depset of Files: `NpmPackageInfo.lockfiles` of the npm packages this library and its deps use (for the image's SBOM only)",
    },
)

PipelineAppInfo = provider(
    doc = "A pipeline program: its entry point and every file it may load at run time.",
    fields = {
        "entry": "File: the compiled entry point (.js)",
        "files": "depset of Files: compiled sources, data, deps and their runfiles (no .ts sources)",
        "runtime": "list of Files: the @rules_pipeline/runtime library",
        "module_mappings": "depset of (module_name, package path) tuples: where `ts_library(module_name = ...)` deps are linked under node_modules",
        "bin_links": "depset of strings `name<TAB>target`: `node_modules/.bin` commands of the npm packages in `files`",
        "npm_lockfiles": "depset of Files: `NpmPackageInfo.lockfiles` of the npm packages in `files`, each `package-lock.json` beside its `node_modules` directory; inputs of the image action alone (its SBOM), not part of the program",
    },
)

PipelineImageInfo = provider(
    doc = "A built image: its OCI layout directory (the target's only default output) and its digest file.",
    fields = {
        "layout": "File (a directory): the OCI image layout",
        "push_layout": "File (a directory) or None: the same layout without layer blobs, each recorded as in the Bazel remote cache (or its base's registry): what `NAME_push` reads under `--@rules_pipeline//bazel:remote_cache`",
        "digest": "File: the manifest digest, `sha256:...`",
        "sbom": "File: the image's SPDX 2.3 JSON SBOM (`<name>.spdx.json`)",
        "npm_lockfiles": "depset of Files: the lockfiles its npm packages were installed from (for the push's provenance)",
    },
)

StringFlagInfo = provider(
    doc = "The value of a `string_flag` build setting (string_flag.bzl).",
    fields = {"value": "string: the flag's value, `build_setting_default` when not given"},
)

StampSettingInfo = provider(
    doc = """Whether this build stamps (`--stamp`), read by rules whose `stamp` attribute is -1.""",
    fields = {"value": "bool: True under `--stamp`"},
)

OciLayoutFilesInfo = provider(
    doc = """An OCI image layout as the files it is made of, beside the same layout as one directory (the target's only
default output, what rules_oci's `oci_image(base = ...)` takes): the `image` target of a base image repository.
rules_pipeline's own rules read the files, so that building a pipeline never makes the directory.""",
    fields = {
        "files": "depset of Files: every file of the layout (`oci-layout`, `index.json`, `blobs/...`)",
        "root": "string: the exec path of the layout's directory (where `oci-layout` is)",
    },
)
