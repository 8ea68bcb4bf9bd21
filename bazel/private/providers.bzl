"""The tools every rule runs (Node, the compiled `pipeline` CLI, tsc), and helpers to run them."""

PIPELINE_TOOL_ATTRS = {
    "_node": attr.label(default = "@rules_pipeline_node//:bin/node", allow_single_file = True, executable = True, cfg = "exec"),
    "_cli": attr.label(default = "@rules_pipeline//:pipeline_cli", cfg = "exec"),
    "_tsc": attr.label(default = "@rules_pipeline_npm//:node_modules/typescript/lib/tsc.js", allow_single_file = True, cfg = "exec"),
    "_tools_npm": attr.label(default = "@rules_pipeline_npm//:node_modules", cfg = "exec"),
}

def _pick_file_impl(ctx):
    wanted = ctx.attr.path
    for f in ctx.attr.src[DefaultInfo].files.to_list():
        if f.short_path.endswith("/" + wanted) or f.short_path == wanted:
            runfiles = ctx.runfiles(transitive_files = ctx.attr.src[DefaultInfo].files)
            runfiles = runfiles.merge(ctx.attr.src[DefaultInfo].default_runfiles)
            for d in ctx.attr.data:
                runfiles = runfiles.merge(ctx.runfiles(transitive_files = d[DefaultInfo].files))
            return [DefaultInfo(files = depset([f]), runfiles = runfiles)]
    fail("pick_file {}: `path` {} is not among the outputs of {}".format(ctx.label, repr(wanted), ctx.attr.src.label))

pick_file = rule(
    implementation = _pick_file_impl,
    doc = "Selects one output of `src` by path (its runfiles carry all of `src`'s outputs and `data`).",
    attrs = {
        "src": attr.label(mandatory = True, doc = "Target whose outputs contain the file."),
        "path": attr.string(mandatory = True, doc = "Path of the file, relative to the package of `src`."),
        "data": attr.label_list(doc = "Extra files to carry in runfiles (e.g. npm packages the tool requires)."),
    },
)

def cli_inputs(ctx):
    """(entry js File, depset of everything the CLI needs to run in an action)."""
    cli = ctx.attr._cli[DefaultInfo]
    entry = cli.files.to_list()[0]
    return entry, depset([ctx.file._node, entry], transitive = [cli.default_runfiles.files])

def tools_node_modules(ctx, runfiles = False):
    """The node_modules directory of the CLI's own npm packages (the AWS SDK, loaded lazily): execroot-relative, or runfiles-relative."""
    repo = ctx.attr._tools_npm.label.workspace_name
    return (repo if runfiles else "external/" + repo) + "/node_modules"

def run_cli(ctx, command, arguments, inputs, outputs, mnemonic, progress_message, env = {}, execution_requirements = {}):
    """Runs `pipeline <command> ...` in a build action."""
    entry, tool_files = cli_inputs(ctx)
    args = ctx.actions.args()
    args.add(entry.path)
    args.add(command)
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [args] + arguments,
        inputs = depset(transitive = [inputs, tool_files, ctx.attr._tools_npm[DefaultInfo].files]),
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        env = dict({"PIPELINE_TOOLS_NODE_MODULES": tools_node_modules(ctx), "CI": "true"}, **env),
        execution_requirements = execution_requirements,
    )

def rlocation(ctx, f):
    """Path of `f` relative to the runfiles root (`<workspace>/path` or `<repo>/path`)."""
    sp = f.short_path
    if sp.startswith("../"):
        return sp[3:]
    return ctx.workspace_name + "/" + sp

def runfiles_root_snippet():
    """Bash that sets R to the runfiles root of the running launcher."""
    return """
if [[ -n "${RUNFILES_DIR:-}" && -d "${RUNFILES_DIR}" ]]; then R="${RUNFILES_DIR}"
elif [[ -d "$0.runfiles" ]]; then R="$(cd "$0.runfiles" && pwd)"
else
  case "$0" in */*.runfiles/*) R="${0%%.runfiles/*}.runfiles" ;; *) echo "rules_pipeline: cannot find the runfiles of $0" >&2; exit 2 ;; esac
  R="$(cd "$R" && pwd)"
fi
"""
