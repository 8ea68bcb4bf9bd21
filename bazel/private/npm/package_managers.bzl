"""The package managers npm_dependencies installs a lockfile with, and which one a lockfile needs.

The lockfile's kind is its file name; its version is checked before any install, so an unsupported one is an error
naming the file and the version found. pnpm and yarn are the real tools, pinned to one version from the npm registry
(downloaded with their registry integrity); npm is the one on PATH, as before. src/lockfile/package-managers.ts
holds the same pins for `pipeline build --lockfile` (a unit test checks they agree).
"""

# name -> what to download and run. The tarballs are the npm registry's; `integrity` is the registry's `dist.integrity`.
PACKAGE_MANAGERS = {
    "pnpm": struct(
        version = "9.15.9",
        url = "https://registry.npmjs.org/pnpm/-/pnpm-9.15.9.tgz",
        integrity = "sha512-aARhQYk8ZvrQHAeSMRKOmvuJ74fiaR1p5NQO7iKJiClf1GghgbrlW1hBjDolO95lpQXsfF+UA+zlzDzTfc8lMQ==",
        bin = "bin/pnpm.cjs",
    ),
    "yarn-classic": struct(
        version = "1.22.22",
        url = "https://registry.npmjs.org/yarn/-/yarn-1.22.22.tgz",
        integrity = "sha512-prL3kGtyG7o9Z9Sv8IPfBNrWTDmXB4Qbes8A9rEzt6wkJV8mUvoirjU0Mp3GGAU06Y0XQyA3/2/RQFVuK7MTfg==",
        bin = "bin/yarn.js",
    ),
    "yarn-berry": struct(
        version = "4.9.2",
        url = "https://registry.npmjs.org/@yarnpkg/cli-dist/-/cli-dist-4.9.2.tgz",
        integrity = "sha512-qrMyWzvEnWhaWOflvE1pGxWGiVOPsO/q4XfGCeRPnLU8ECkvhrhJEfCNakcy3s3VHcApBASQ4fmL0sOEw6xtZQ==",
        bin = "bin/yarn.js",
    ),
}

# Lockfile file name -> kind.
LOCKFILE_NAMES = {
    "package-lock.json": "npm",
    "npm-shrinkwrap.json": "npm",
    "pnpm-lock.yaml": "pnpm",
    "yarn.lock": "yarn",
}

# The `__metadata.version` of a yarn berry lockfile the pinned yarn installs with --immutable (Yarn 4 writes 8).
YARN_BERRY_METADATA = ["8"]

# The `nodeLinker` values of a yarn berry project's `.yarnrc.yml` npm_dependencies honours: the packages are installed as
# a node_modules tree, what the image's /app/node_modules, the compiles and `_local` read.
YARN_NODE_LINKERS = ["node-modules"]

def lockfile_kind(basename):
    """`npm`, `pnpm` or `yarn` for a lockfile's file name, else None."""
    return LOCKFILE_NAMES.get(basename)

def _scalar(text, key, indent = ""):
    """The value of the first `<indent><key>: value` line of a YAML text, unquoted, or None."""
    for line in text.split("\n"):
        if line.startswith(indent + key + ":") and not line.startswith(indent + " "):
            v = line[len(indent + key) + 1:].strip()
            if v.find(" #") >= 0:
                v = v[:v.find(" #")].strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            return v
    return None

def pnpm_lockfile_version(text):
    """`lockfileVersion` of a pnpm-lock.yaml ("9.0", "6.0", "5.4"), or None."""
    return _scalar(text, "lockfileVersion")

def yarnrc_problem(text):
    """What npm_dependencies cannot honour in a yarn berry `.yarnrc.yml` (the field and the value), or None.

    Args:
      text: the `.yarnrc.yml`'s text.

    Returns:
      None, or the problem, naming the field and the value found.
    """
    linker = _scalar(text, "nodeLinker")
    if linker != None and linker not in YARN_NODE_LINKERS:
        return "nodeLinker {} is not supported (supported: {}): the packages are installed as a node_modules tree, which the image's /app/node_modules and the compiles are made of; set `nodeLinker: node-modules`".format(
            json.encode(linker),
            ", ".join(YARN_NODE_LINKERS),
        )
    return None

def lockfile_manager(kind, text):
    """The package manager that installs a lockfile, after checking its version.

    Args:
      kind: `npm`, `pnpm` or `yarn` (lockfile_kind of its file name).
      text: the lockfile's text.

    Returns:
      (package manager name, None), or (None, what is wrong: the version found and the supported ones).
    """
    if kind == "npm":
        return "npm", None
    if kind == "pnpm":
        v = pnpm_lockfile_version(text)
        if v == None:
            return None, "no `lockfileVersion` found; supported: lockfileVersion '9.0' (pnpm 9 and 10)"
        if not v.startswith("9."):
            return None, "lockfileVersion {} is not supported (supported: '9.0', written by pnpm 9 and 10); regenerate it with `pnpm install --lockfile-only` using pnpm >= 9".format(repr(v))
        return "pnpm", None
    if kind == "yarn":
        if "\n__metadata:" in "\n" + text:
            meta = text[text.find("__metadata:"):]
            v = _scalar(meta, "version", "  ")
            if v not in YARN_BERRY_METADATA:
                return None, "yarn berry `__metadata` version {} is not supported (supported: {}, written by Yarn 4); regenerate it with `yarn install` using Yarn 4".format(
                    repr(v),
                    ", ".join(YARN_BERRY_METADATA),
                )
            return "yarn-berry", None
        if "# yarn lockfile v1" in text:
            return "yarn-classic", None
        return None, "neither a yarn classic lockfile (`# yarn lockfile v1`) nor a yarn berry one (`__metadata`)"
    return None, "unknown lockfile kind {}".format(repr(kind))
