"""Where each file of a pipeline goes: the app tree is `/app` in the image and the workspace directory of the
runfiles tree in `_local`/`_binary` runs, so the launch script sees the same layout in both.

- files of this workspace: `<workspace-relative path>` (`examples/hello/main.js`)
- any file under a `node_modules/` directory (npm packages, from any repository): `node_modules/...`
- other repositories' files: `external/<repo>/<path>`
- the runtime library: `node_modules/@rules_pipeline/runtime/<file>`
"""

APP_ROOT = "app"

def third_party_path(f):
    """`node_modules/...` path of a file inside a node_modules tree, else None."""
    sp = f.short_path
    if sp.startswith("node_modules/"):
        return sp
    i = sp.find("/node_modules/")
    if i < 0:
        return None
    return sp[i + 1:]

def first_party_path(f):
    sp = f.short_path
    if sp.startswith("../"):
        return "external/" + sp[3:]
    return sp

def runtime_path(f):
    return "node_modules/@rules_pipeline/runtime/" + f.basename

def is_app_file(f):
    """Sources compiled into .js are left out; everything else the program may load is kept."""
    return not (f.extension in ("ts", "tsx", "mts", "cts") and not f.basename.endswith(".d.ts"))

def _third_party_line(f):
    p = third_party_path(f)
    if p == None or not is_app_file(f):
        return None
    return "{}\t{}".format(APP_ROOT + "/" + p, f.path)

def _first_party_line(f):
    if third_party_path(f) != None or not is_app_file(f):
        return None
    return "{}\t{}".format(APP_ROOT + "/" + first_party_path(f), f.path)

def _runtime_line(f):
    return "{}\t{}".format(APP_ROOT + "/" + runtime_path(f), f.path)

def layer_file_args(ctx, files, which):
    """Args listing `dest<TAB>src` lines for the files of one layer ("third_party", "runtime" or "first_party")."""
    args = ctx.actions.args()
    args.set_param_file_format("multiline")
    args.use_param_file("--files=%s", use_always = True)
    fn = {"third_party": _third_party_line, "first_party": _first_party_line, "runtime": _runtime_line}[which]
    args.add_all(files, map_each = fn)
    return args

def app_runfiles(ctx, app_files, runtime_files):
    """Runfiles laying out the app tree under the workspace directory of the runfiles tree."""
    symlinks = {}
    plain = []
    for f in app_files.to_list():
        p = third_party_path(f)
        if p != None:
            symlinks[p] = f
        elif is_app_file(f):
            plain.append(f)
            if f.short_path.startswith("../"):
                symlinks[first_party_path(f)] = f
    for f in runtime_files:
        symlinks[runtime_path(f)] = f
    return ctx.runfiles(files = plain, symlinks = symlinks)
