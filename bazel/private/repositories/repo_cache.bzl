"""A cache of repository contents shared by every output base, on every Bazel version.

What Bazel 8's repo contents cache does for reproducible repositories, for ours (npm_dependencies,
pipeline_tools_repository), also on Bazel 4 and 7: a repository whose contents are a pure function of its inputs is
built once per machine and copied into each new output base afterwards.

    cache = repo_cache(rctx, node, "npm", strings = [...], files = [...], trees = [...])
    if not repo_cache_restore(rctx, cache, ["node_modules", "BUILD.bazel"]):
        ...build them...
        repo_cache_store(rctx, cache, ["node_modules", "BUILD.bazel"])

The key is a sha256 over the kind, a format version, every string, file and directory tree the rule names (by a
name that does not depend on where they are, and their bytes), and the Node that runs the helper (its versions,
platform, arch and glibc). Entries are `<cache dir>/<kind>-<key>`, the cache dir being `$PIPELINE_REPO_CACHE`
(a path, or `off`), else `$XDG_CACHE_HOME/rules_pipeline/repos`, else `~/.cache/rules_pipeline/repos`: `repos/` of
the default cache root of `pipeline cache du`/`prune`, which count and remove them (kind "repos"). Not
`$PIPELINE_CACHE_DIR`: users set it for `bazel run` (the launchers' cache), and repositories would follow it.
Publication and restore are repo_cache.js's (atomic rename, completion marker; entries read-only, and each restore
checks the entry against the digests its store recorded, discarding a changed one); a cache that cannot be read or
written never fails the fetch: a one-line warning, and the rule builds the repository as without a cache. After a
store the directory is kept under `$PIPELINE_REPO_CACHE_MAX_SIZE` (default 10GiB; 0: no limit) by removing the least
recently used entries (repo_cache.js).
"""

load("//bazel/private/common:environment.bzl", "ENV")
load("//bazel/private/common:outside_text.bzl", "outside_text")

# What every rule using the cache lists in `environ`: changing it refetches (`PIPELINE_REPO_CACHE=off` rebuilds the
# repository without the cache). XDG_CACHE_HOME and HOME are read but not listed: they move the cache, they do not
# change what a repository holds, so a command run with another HOME (a test's, a launcher's) refetches nothing.
REPO_CACHE_ENVIRON = [ENV.REPO_CACHE]

_HELPER = Label("//bootstrap:repo_cache.js")

def _hex64(s):
    return len(s) == 64 and not s.strip("0123456789abcdef")

def _warn(rctx, message):
    print(outside_text("WARNING: {}: repository cache: {}".format(rctx.attr.name, message)))  # buildifier: disable=print

def repo_cache_dir(rctx):
    """Where the entries are.

    Args:
      rctx: the repository_ctx (its environment chooses).
    Returns:
      The cache directory (a string), or None when the cache is off.
    """
    env = rctx.os.environ
    explicit = env.get(ENV.REPO_CACHE, "")
    if explicit == "off":
        return None
    if explicit:
        if not explicit.startswith("/"):
            fail("{} must be an absolute path or `off`, got {}".format(ENV.REPO_CACHE, repr(explicit)))
        return explicit.rstrip("/") or "/"
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg.startswith("/"):
        return xdg.rstrip("/") + "/rules_pipeline/repos"
    home = env.get("HOME", "")
    if home.startswith("/"):
        return home.rstrip("/") + "/.cache/rules_pipeline/repos"
    return None

def repo_cache(rctx, node, kind, strings = [], files = [], trees = []):
    """The cache entry for this fetch, or None (cache off, or the key could not be computed: warned).

    Resolve every label before calling it (Bazel 4 restarts a repository function at the first unfetched one).

    Args:
      rctx: the repository_ctx.
      node: path of the Node that runs the helper, the one the rule builds with (its version is part of the key).
      kind: lowercase letters naming the rule (`npm`, `tools`).
      strings: [name, value] pairs: attributes, tool versions, generated text.
      files: [name, path] pairs: files whose bytes determine the contents (name: where-independent, e.g. a label).
      trees: [name, path] pairs: directories whose every file, symlink and directory determines the contents.
    Returns:
      A struct(entry, key, node, helper) for repo_cache_restore/repo_cache_store, or None.
    """
    if not kind or kind.strip("abcdefghijklmnopqrstuvwxyz"):
        fail("repo_cache: kind must be lowercase letters, got {}".format(repr(kind)))
    root = repo_cache_dir(rctx)
    if root == None:
        return None
    helper = rctx.path(_HELPER)
    spec = json.encode({
        "kind": kind,
        "strings": strings,
        "files": [[n, str(p)] for n, p in files],
        "trees": [[n, str(p)] for n, p in trees],
    })
    result = rctx.execute([str(node), str(helper), "key", spec], quiet = True, timeout = 300)
    key = result.stdout.strip()
    if result.return_code != 0 or not _hex64(key):
        _warn(rctx, "no key ({}); building without the cache".format((result.stderr.strip() or "exit {}".format(result.return_code)).split("\n")[-1]))
        return None
    return struct(entry = "{}/{}-{}".format(root, kind, key), key = key, node = node, helper = helper)

def repo_cache_restore(rctx, cache, names):
    """Hard-links (or, across filesystems, copies) the entry's `names` into the repository directory; True on a hit.

    A changed entry (its content no longer what the store recorded) is discarded, with a warning: a miss.

    Args:
      rctx: the repository_ctx.
      cache: what repo_cache returned (None: a miss).
      names: the top-level files and directories the entry holds.
    Returns:
      Whether they were restored.
    """
    if cache == None:
        return False
    rctx.report_progress("from the cache ({})".format(cache.entry))
    result = rctx.execute([str(cache.node), str(cache.helper), "restore", cache.entry, str(rctx.path("."))] + names, quiet = True, timeout = 600)
    if result.return_code == 0:
        return True
    if result.return_code != 2:
        _warn(rctx, "{}; building without it".format((result.stderr.strip() or "exit {}".format(result.return_code)).split("\n")[-1]))
    return False

def repo_cache_store(rctx, cache, names):
    """Publishes the repository directory's `names` as the entry (atomically); a failure only warns.

    Args:
      rctx: the repository_ctx.
      cache: what repo_cache returned (None: nothing to do).
      names: the top-level files and directories to keep.
    """
    if cache == None:
        return
    rctx.report_progress("storing in the cache ({})".format(cache.entry))
    result = rctx.execute(
        [str(cache.node), str(cache.helper), "store", cache.entry, str(rctx.path("."))] + names,
        # The size bound: it moves no repository's contents, so it is read here and not listed in `environ`.
        environment = {ENV.REPO_CACHE_MAX_SIZE: rctx.os.environ.get(ENV.REPO_CACHE_MAX_SIZE, "")},
        quiet = True,
        timeout = 600,
    )
    last = (result.stderr.strip() or "exit {}".format(result.return_code)).split("\n")[-1]
    if result.return_code == 4:  # stored; the size bound's eviction failed, and the message says so
        _warn(rctx, last)
    elif result.return_code != 0:
        _warn(rctx, "not stored: {}".format(last))
