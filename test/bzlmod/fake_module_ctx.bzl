"""A fake `module_ctx` for testing bazel/private/repositories/extension_logic.bzl under Bazel 4.2.3, which has no bzlmod.

It has the fields the logic reads, in the shapes Bazel documents: `modules` (each `name`, `version`, `is_root`,
`tags.npm`, `tags.config`), `getenv`/`os.environ`, and, depending on the simulated Bazel, `is_dev_dependency`,
`extension_metadata` (6.x/7.0: without `reproducible`; 7.1+: with it) and `watch` (7.1+).
"""

# The test reaches into the private logic on purpose (it is what it tests):
# buildifier: disable=bzl-visibility
load("//bazel/private/repositories:extension_logic.bzl", "CONFIG_TAG_ATTRS", "NPM_TAG_ATTRS")

def _tag(attr_names, kwargs, dev):
    fields = {}
    for key in attr_names:
        fields[key] = kwargs.pop(key, None)
    if kwargs:
        fail("fake tag: unknown attributes {}".format(sorted(kwargs.keys())))
    return struct(_dev = dev, **fields)

def fake_npm(dev = False, **kwargs):
    """An `npm` tag: the attributes of NPM_TAG_ATTRS (unset ones None), marked dev_dependency or not.

    Args:
      dev: whether the tag comes from a `use_extension(..., dev_dependency = True)` proxy.
      **kwargs: the tag's attributes.

    Returns:
      A struct shaped like a real tag.
    """
    return _tag(NPM_TAG_ATTRS.keys(), dict(kwargs), dev)

def fake_config(**kwargs):
    """A `config` tag (attributes of CONFIG_TAG_ATTRS, unset ones None).

    Args:
      **kwargs: the tag's attributes.

    Returns:
      A struct shaped like a real tag.
    """
    fields = {}
    for key in CONFIG_TAG_ATTRS.keys():
        fields[key] = kwargs.pop(key, None)
    if kwargs:
        fail("fake config tag: unknown attributes {}".format(sorted(kwargs.keys())))
    return struct(_dev = False, **fields)

def fake_module(name, version = "", is_root = False, npm = [], config = []):
    """A `bazel_module` as `module_ctx.modules` lists it.

    Args:
      name: the module's name.
      version: its version ("" for the root module, like Bazel's).
      is_root: whether it is the root module.
      npm: its `npm` tags (fake_npm).
      config: its `config` tags (fake_config).

    Returns:
      A struct shaped like a bazel_module.
    """
    return struct(name = name, version = version, is_root = is_root, tags = struct(npm = npm, config = config))

def _metadata_6(root_module_direct_deps = None, root_module_direct_dev_deps = None):
    return struct(kind = "extension_metadata", root_module_direct_deps = root_module_direct_deps, root_module_direct_dev_deps = root_module_direct_dev_deps)

def _metadata_71(root_module_direct_deps = None, root_module_direct_dev_deps = None, reproducible = False):
    return struct(kind = "extension_metadata", root_module_direct_deps = root_module_direct_deps, root_module_direct_dev_deps = root_module_direct_dev_deps, reproducible = reproducible)

def _is_dev_dependency(tag):
    return tag._dev

def _watch(_path):
    return None

def fake_module_ctx(modules, environ = {}, bazel = "7.1"):
    """A module_ctx as a given Bazel version would pass it.

    Args:
      modules: fake_module values, root module first (Bazel's order).
      environ: the environment (`--repo_env`) the extension could read.
      bazel: "6.0" (no is_dev_dependency; extension_metadata without `reproducible`), "6.4"/"7.0" (with
        is_dev_dependency), "7.1" (also `reproducible` and `watch`), or "none" (no extension_metadata at all).

    Returns:
      A struct shaped like module_ctx.
    """
    fields = {
        "modules": modules,
        "os": struct(environ = environ, name = "linux"),
        "getenv": environ.get,
    }
    if bazel != "none":
        fields["extension_metadata"] = _metadata_71 if bazel == "7.1" else _metadata_6
    if bazel in ("6.4", "7.0", "7.1"):
        fields["is_dev_dependency"] = _is_dev_dependency
    if bazel == "7.1":
        fields["watch"] = _watch
    return struct(**fields)
