"""npm_dependencies' install scripts: which packages have them, the `allow_install_scripts` / `ignore_install_scripts`
checks, and `npm rebuild` of the allowed ones (native addons built from source), for npm_repo.bzl."""

load("//bazel/private/common:outside_text.bzl", "outside_text")

# Packages whose install scripts need not run, accepted silently: esbuild's postinstall only checks the binary its
# optional platform package already carries; the others print a banner or probe the environment.
HARMLESS_INSTALL_SCRIPTS = ["core-js", "core-js-pure", "es5-ext", "esbuild"]

def package_name(path):
    """`node_modules/a/node_modules/@scope/b` -> `@scope/b`."""
    return path[path.rfind("node_modules/") + len("node_modules/"):]

def install_scripts_of(rctx, path, info):
    """What would run code when npm installs the package at `path`.

    Args:
      rctx: the repository context.
      path: the package's path in the repository (`node_modules/...`).
      info: the package's lockfile entry (its `hasInstallScript`).

    Returns:
      What runs, for the error message ("" when nothing does).
    """
    found = []
    pkg = rctx.path(path + "/package.json")
    if pkg.exists:
        text = rctx.read(pkg)
        scripts = json.decode(text).get("scripts", {}) if text.strip().startswith("{") else {}
        if type(scripts) == type({}):
            found = ["{} script {}".format(k, repr(scripts[k])) for k in ("preinstall", "install", "postinstall") if k in scripts]
    if not found and rctx.path(path + "/binding.gyp").exists:
        found = ["a binding.gyp (npm runs `node-gyp rebuild`)"]
    if not found and info.get("hasInstallScript", False):
        found = ["`hasInstallScript` in the lockfile"]
    return ", ".join(found)

def check_install_scripts(rctx, packages, scripted):
    """Fails on a bad `allow_install_scripts`/`ignore_install_scripts` entry or an unlisted package with install scripts.

    Args:
      rctx: the repository context (npm_dependencies' attributes).
      packages: the installed and locked packages by path.
      scripted: package name -> [(path, what runs)] of the packages with install scripts.
    """
    where = "npm_dependencies(name = {})".format(repr(rctx.attr.name))
    names = {package_name(p): True for p in packages.keys()}
    allow = rctx.attr.allow_install_scripts
    for attr_name, listed in (("allow_install_scripts", allow), ("ignore_install_scripts", rctx.attr.ignore_install_scripts)):
        for n in listed:
            if n not in names:
                fail("{}: `{}` entry {} is not a package of {}".format(where, attr_name, repr(n), str(rctx.attr.lockfile)))
            if attr_name == "ignore_install_scripts" and n in allow:
                fail("{}: {} is in both `allow_install_scripts` and `ignore_install_scripts`; keep one".format(where, repr(n)))
    accepted = {n: True for n in allow + rctx.attr.ignore_install_scripts + HARMLESS_INSTALL_SCRIPTS}
    unlisted = [n for n in sorted(scripted.keys()) if n not in accepted]
    if unlisted:
        fail("\n".join(["{}: {} of {} {} install scripts, which npm_dependencies does not run unless told to:".format(
            where,
            "package" if len(unlisted) == 1 else "packages",
            str(rctx.attr.lockfile),
            "has" if len(unlisted) == 1 else "have",
        )] + ["  {} ({}: {})".format(n, scripted[n][0][0], scripted[n][0][1]) for n in unlisted] + [
            "Add {} to `allow_install_scripts` to run them at fetch time (native addons: node-gyp builds them from source; see README, \"Native addons\"), or to `ignore_install_scripts` to install {} without running them.".format(
                ", ".join([repr(n) for n in unlisted]),
                "it" if len(unlisted) == 1 else "them",
            ),
        ]))

# Of a rebuilt package's build/ directory, keep the addons (build/Release/*.node) and drop the byproducts (object
# files, Makefiles, node-gyp's symlink to python3).
_PRUNE_BUILD = """cd "$1" && find build -mindepth 1 ! -type d | while IFS= read -r f; do
  case "$f" in build/Release/*/*) rm -f "$f" ;; build/Release/*.node) ;; *) rm -f "$f" ;; esac
done && find build -depth -mindepth 1 -type d -empty -delete"""

def run_install_scripts(rctx, npm_cli, env, scripted):
    """`npm rebuild <allow_install_scripts> --offline`, then prunes their build/ directories.

    Args:
      rctx: the repository context (npm_dependencies' attributes).
      npm_cli: npm's CLI.
      env: the environment npm runs in.
      scripted: package name -> [(path, what runs)] of the packages with install scripts.
    """
    names = [n for n in rctx.attr.allow_install_scripts if n in scripted]
    if not names:
        return
    rctx.report_progress("npm rebuild {} (install scripts, building from source)".format(" ".join(names)))

    # prebuild-install and node-pre-gyp would try to download a prebuilt binary first: go straight to node-gyp.
    env = dict(env, npm_config_build_from_source = "true")
    args = [str(npm_cli), "rebuild"] + names + ["--offline", "--foreground-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    result = rctx.execute(args, environment = env, quiet = True, timeout = 3600)
    if result.return_code != 0:
        fail(outside_text("npm_dependencies(name = {}): `allow_install_scripts`: `npm rebuild {} --offline` failed (exit {}). Building native addons needs python3, make, a C++ compiler and Node's headers (npm's `nodedir` config, e.g. `npm config set nodedir /usr` with /usr/include/node present):\n{}{}".format(
            repr(rctx.attr.name),
            " ".join(names),
            result.return_code,
            result.stdout[-8000:],
            result.stderr[-8000:],
        )))
    for n in names:
        for path, _ in scripted[n]:
            if rctx.path(path + "/build").exists:
                result = rctx.execute(["bash", "-c", _PRUNE_BUILD, "prune", path])
                if result.return_code != 0:
                    fail(outside_text("npm_dependencies(name = {}): cleaning {}/build failed: {}".format(repr(rctx.attr.name), path, result.stderr)))
