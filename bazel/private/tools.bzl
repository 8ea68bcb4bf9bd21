"""The tools the rules run (Node, the bundled `pipeline` CLI, tsc) and helpers to run them.

Build actions get the CLI as one self-contained file (`@rules_pipeline//:pipeline_cli`, bundled with esbuild at
fetch time), so no action of an app has the tools' npm tree among its inputs; launchers (`bazel run` targets) carry
the CLI and, for the commands that load the AWS SDK or the Kubernetes client, those two packages as one file each.
"""

# What every rule that runs the CLI in a build action needs.
BUILD_TOOL_ATTRS = {
    "_node": attr.label(default = "@rules_pipeline_node//:bin/node", allow_single_file = True, executable = True, cfg = "exec"),
    "_cli": attr.label(default = "@rules_pipeline//:pipeline_cli", allow_single_file = True, cfg = "exec"),
}

# What the TypeScript compiler needs: the typescript package and Node's types (the default `types`).
TSC_ATTRS = {
    "_typescript": attr.label(default = "@rules_pipeline_npm//:node_modules/typescript", cfg = "exec"),
    "_types_node": attr.label(default = "@rules_pipeline_npm//:node_modules/@types/node", cfg = "exec"),
    "_tsc_worker": attr.label(default = "@rules_pipeline//bazel/private:tsc_worker.js", allow_single_file = True, cfg = "exec"),
}

# Launchers (`bazel run` targets) also carry the npm packages run-time commands load lazily (bundled, one file each).
LAUNCHER_TOOL_ATTRS = dict({
    "_tools_npm": attr.label(default = "@rules_pipeline_tools//:modules", cfg = "exec"),
}, **BUILD_TOOL_ATTRS)

def cli_file(ctx):
    """The bundled CLI (`node <file> <command>`)."""
    return ctx.file._cli

def tools_node_modules(ctx, runfiles = False):
    """The directory of the npm packages the CLI loads lazily (PIPELINE_TOOLS_NODE_MODULES): execroot- or runfiles-relative."""
    repo = ctx.attr._tools_npm.label.workspace_name
    return (repo if runfiles else "external/" + repo) + "/modules"

def run_cli(ctx, command, arguments, inputs, outputs, mnemonic, progress_message, execution_requirements = {}):
    """Runs `pipeline <command> ...` in a build action. Its inputs: `inputs`, Node and the one-file CLI.

    The action's environment is Bazel's default shell environment, so `--action_env=SOURCE_DATE_EPOCH` reaches it.

    Args:
      ctx: the rule context of a target with `_cli` and `_node`.
      command: the CLI subcommand.
      arguments: list of Args (or strings) after the subcommand.
      inputs: depset of the action's other inputs.
      outputs: list of the action's outputs.
      mnemonic: the action's mnemonic.
      progress_message: the action's progress message.
      execution_requirements: the action's execution requirements.
    """
    args = ctx.actions.args()
    args.add(ctx.file._cli.path)
    args.add(command)
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [args] + arguments,
        inputs = depset([ctx.file._cli], transitive = [inputs]),
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        use_default_shell_env = True,
        execution_requirements = execution_requirements,
    )

def rlocation(ctx, f):
    """Path of `f` relative to the runfiles root (`<workspace>/path` or `<repo>/path`).

    Args:
      ctx: the rule context.
      f: a File in the target's runfiles.

    Returns:
      The runfiles-relative path.
    """
    sp = f.short_path
    if sp.startswith("../"):
        return sp[3:]
    return ctx.workspace_name + "/" + sp

def declare_launcher(ctx):
    """Declares the executable of a runnable target: `<name>.sh`, never `<name>`.

    A launcher is in its own runfiles, beside the program's files, and Node's `require("./etl")` takes a file named
    exactly `etl` before `etl.js`: a launcher named like a module of the program would be loaded instead of it (a
    SyntaxError on bash). `bazel run //pkg:NAME` does not depend on the file's name.

    Args:
      ctx: the rule context of an executable rule.

    Returns:
      The File to write the launcher to.
    """
    return ctx.actions.declare_file(ctx.label.name + ".sh")

def runfiles_root_snippet():
    """Bash that sets R to the runfiles root of the running launcher and defines `rl`, which resolves runfiles paths.

    `rl <repo>/<path>` prints the absolute path. When the tree has a `_repo_mapping` file (Bazel 7+: lines
    `source_canonical,target_apparent,target_canonical`), `<repo>` is looked up there by its apparent name (the main
    repository's mapping first); a name it does not list, or no file (Bazel 4-6), leaves the path as it is. The same
    lookup as src/launch/runfiles.ts.
    """
    return """
if [[ -n "${RUNFILES_DIR:-}" && -d "${RUNFILES_DIR}" ]]; then R="${RUNFILES_DIR}"
elif [[ -d "$0.runfiles" ]]; then R="$(cd "$0.runfiles" && pwd)"
else
  case "$0" in */*.runfiles/*) R="${0%%.runfiles/*}.runfiles" ;; *) echo "rules_pipeline: cannot find the runfiles of $0" >&2; exit 2 ;; esac
  R="$(cd "$R" && pwd)"
fi
rl() {
  local repo="${1%%/*}" rest="" c=""
  [[ "$1" == */* ]] && rest="/${1#*/}"
  if [[ -f "$R/_repo_mapping" ]]; then
    c="$(awk -F, -v a="$repo" '$2 == a && NF == 3 { if ($1 == "") { m = $3; exit } if (m == "") m = $3 } END { if (m != "") print m }' "$R/_repo_mapping")"
  fi
  printf '%s/%s%s' "$R" "${c:-$repo}" "$rest"
}
"""
