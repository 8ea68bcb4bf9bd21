"""The tools the rules run (Node, the bundled `pipeline` CLI, tsc) and helpers to run them.

Build actions get the CLI as one self-contained file (`@rules_pipeline//:pipeline_cli`, bundled with esbuild at
fetch time), so no action of an app has the tools' npm tree among its inputs; launchers (`bazel run` targets) carry
the CLI and, for the commands that load the AWS SDK or the Kubernetes client, those two packages as one file each.
"""

load(":providers.bzl", "StringFlagInfo")

# What every rule that runs the CLI in a build action needs. Every default that lives in a fetched repository goes
# through an alias of bazel/private/BUILD.bazel, never a direct label: Bazel 4.2.3 loads the packages of all of a
# target's dependencies before analysing any, so one direct label into @rules_pipeline_tools held up the workspace's
# own `npm ci` until the rules' fetch chain had ended (commit 74af812; BUILD.bazel says more).
BUILD_TOOL_ATTRS = {
    "_node": attr.label(default = "@rules_pipeline//bazel/private:node", allow_single_file = True, executable = True, cfg = "exec"),
    "_cli": attr.label(default = "@rules_pipeline//:pipeline_cli", allow_single_file = True, cfg = "exec"),
}

# What the TypeScript compiler needs: the typescript package and Node's types (the default `types`).
TSC_ATTRS = {
    "_typescript": attr.label(default = "@rules_pipeline//bazel/private:typescript", cfg = "exec"),
    "_types_node": attr.label(default = "@rules_pipeline//bazel/private:types_node", cfg = "exec"),
    # The TsCompile runner (src/tsc/ bundled into one file, BUILD.bazel): with its package.json (`bundle_files`), the
    # action's tools, so a new runner is a new worker key.
    "_tsc_worker": attr.label(default = "@rules_pipeline//:tsc_worker", allow_single_file = True, cfg = "exec"),
    # The compiler snapshot when `--@rules_pipeline//bazel:tsc_snapshot` is set, else nothing. In the target
    # configuration, where the flag is what the user set; the snapshot's own action runs the exec configuration's Node.
    "_tsc_snapshot": attr.label(default = "@rules_pipeline//bazel/private/typescript:tsc_snapshot"),
    # `--@rules_pipeline//bazel:tsc_threads` (bazel/BUILD.bazel): TypeScript 7's threads per compile.
    "_tsc_threads": attr.label(default = "@rules_pipeline//bazel:tsc_threads", providers = [StringFlagInfo]),
}

# Launchers (`bazel run` targets) also carry the npm packages run-time commands load lazily (bundled, one file each).
LAUNCHER_TOOL_ATTRS = dict({
    "_tools_npm": attr.label(default = "@rules_pipeline//bazel/private:tools_modules", cfg = "exec"),
    # Runs the CLI's bundle with a V8 code cache (tools/bundle-loader.ts): `node LOADER CLI <command> ...`.
    "_cli_loader": attr.label(default = "@rules_pipeline//:pipeline_loader", allow_single_file = True, cfg = "exec"),
}, **BUILD_TOOL_ATTRS)

def cli_file(ctx):
    """The bundled CLI (`node <file> <command>`)."""
    return ctx.file._cli

def cli_files(ctx):
    """The bundled CLI's files, what running it needs: `cli_file` and the second file it loads the commands from.

    Args:
      ctx: the rule context of a target with `_cli`.

    Returns:
      A depset of Files.
    """
    return depset([ctx.file._cli], transitive = [ctx.attr._cli[DefaultInfo].default_runfiles.files])

def bundle_files(target):
    """A bundled tool's files, what running it needs: the bundle and its runfiles (its `package.json`, js_bundle.bzl).

    Args:
      target: a `js_bundle` target, or the `prebuilt_or_built` filegroup standing for one.

    Returns:
      A depset of Files.
    """
    return depset(transitive = [target[DefaultInfo].files, target[DefaultInfo].default_runfiles.files])

def tools_node_modules(ctx, runfiles = False):
    """The directory of the npm packages the CLI loads lazily (PIPELINE_TOOLS_NODE_MODULES): execroot- or runfiles-relative."""
    repo = ctx.attr._tools_npm.label.workspace_name
    return (repo if runfiles else "external/" + repo) + "/modules"

def cli_worker_args(ctx, command):
    """The arguments of a CLI command that runs in a persistent worker (`run_cli_worker`), `command` first.

    They are written to a flag file (`@FILE`, one argument a line), as Bazel's workers take them: add every value in
    the `--flag=value` form, so that no line starts with "@" (Bazel expands such a line as another flag file), and
    no Args with a param file of its own (its `--flag=FILE` would be a start-up argument of the worker, not part of
    the request): write long lists to a file with `ctx.actions.write(file, args)` and pass the file.

    Args:
      ctx: the rule context.
      command: the CLI subcommand (`layer`, `image`: the commands src/cli/worker.ts serves).

    Returns:
      An Args object.
    """
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add(command)
    return args

def run_cli(ctx, command, arguments, inputs, outputs, mnemonic, progress_message, execution_requirements = {}):
    """Runs `pipeline <command> ...` in a build action (a new process). Its inputs: `inputs`, Node and the one-file CLI.

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
    _run_node_cli(ctx, [command] + arguments, inputs, outputs, mnemonic, progress_message, execution_requirements)

def run_cli_worker(ctx, args, inputs, outputs, mnemonic, progress_message, execution_requirements = {}):
    """Runs a CLI command in a persistent worker (`node pipeline_cli.js --persistent_worker`, src/cli/worker.ts).

    With workers off, or another strategy for the mnemonic (`--strategy=PipelineLayer=sandboxed`), the same action
    runs one-shot: `node pipeline_cli.js @FLAGFILE`. Node and the CLI are the action's tools, which Bazel 7 hashes into
    the worker's key, so a rebuilt CLI starts new workers; Bazel 4.2.3 keeps sending requests to the old worker, which
    then hands them to a worker of the new CLI (src/tsc/protocol.ts): no answer comes from old code.

    Args:
      ctx: the rule context of a target with `_cli` and `_node`.
      args: the Args of `cli_worker_args`, filled.
      inputs: depset of the action's other inputs.
      outputs: list of the action's outputs.
      mnemonic: the action's mnemonic (each has its own workers).
      progress_message: the action's progress message.
      execution_requirements: more execution requirements (`supports-workers` is added).
    """
    _run_node_cli(ctx, [args], inputs, outputs, mnemonic, progress_message, dict(execution_requirements, **{"supports-workers": "1"}))

def _run_node_cli(ctx, arguments, inputs, outputs, mnemonic, progress_message, execution_requirements):
    ctx.actions.run(
        executable = ctx.executable._node,
        arguments = [ctx.file._cli.path] + arguments,
        inputs = inputs,
        # Tools are part of a worker's key (Bazel 7): a new CLI (or Node) starts new workers.
        tools = cli_files(ctx),
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

    `rl VAR <repo>/<path>` sets VAR to the absolute path. When the tree has a `_repo_mapping` file (Bazel 7+: lines
    `source_canonical,target_apparent,target_canonical`), `<repo>` is looked up there by its apparent name (the main
    repository's mapping first); a name it does not list, or no file (Bazel 4-6), leaves the path as it is. The same
    lookup as src/launch/runfiles.ts. No subshell and no other program runs before the launcher execs Node (it
    resolves about ten paths on every start; test/e2e/bazel-runfiles-rename.test.ts checks it under strace): the
    file is read by bash's `read`, once per repository name, and VAR is set by `printf -v`.
    """
    return """
if [[ -n "${RUNFILES_DIR:-}" && -d "${RUNFILES_DIR}" ]]; then R="${RUNFILES_DIR}"
elif [[ -d "$0.runfiles" ]]; then R="$0.runfiles"
else
  case "$0" in */*.runfiles/*) R="${0%%.runfiles/*}.runfiles" ;; *) echo "rules_pipeline: cannot find the runfiles of $0" >&2; exit 2 ;; esac
fi
[[ "$R" == /* ]] || R="$PWD/$R"
_rl_seen="|"
rl() {
  local _rl_repo="${2%%/*}" _rl_rest="" _rl_line _rl_src _rl_to _rl_main="" _rl_any=""
  [[ "$2" == */* ]] && _rl_rest="/${2#*/}"
  if [[ "$_rl_seen" == *"|$_rl_repo="* ]]; then
    _rl_to="${_rl_seen#*|"$_rl_repo"=}"
    _rl_main="${_rl_to%%|*}"
  else
    if [[ -f "$R/_repo_mapping" ]]; then
      while IFS= read -r _rl_line || [[ -n "$_rl_line" ]]; do
        [[ "$_rl_line" == *,*,* && "$_rl_line" != *,*,*,* ]] || continue
        _rl_src="${_rl_line%%,*}"
        _rl_line="${_rl_line#*,}"
        [[ "${_rl_line%%,*}" == "$_rl_repo" ]] || continue
        _rl_to="${_rl_line#*,}"
        [[ -n "$_rl_to" ]] || continue
        if [[ -z "$_rl_src" ]]; then _rl_main="$_rl_to"; break; fi
        [[ -n "$_rl_any" ]] || _rl_any="$_rl_to"
      done <"$R/_repo_mapping"
    fi
    _rl_main="${_rl_main:-$_rl_any}"
    _rl_seen="$_rl_seen$_rl_repo=$_rl_main|"
  fi
  printf -v "$1" '%s/%s%s' "$R" "${_rl_main:-$_rl_repo}" "$_rl_rest"
}
"""
