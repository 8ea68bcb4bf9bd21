#!/usr/bin/env bash
# A class-data-sharing archive for the Bazel 4 server's JVM, for test runs (scripts/test.sh): about 40 Bazel servers
# start in a run, and each spends ~1 s of CPU loading and verifying the same classes of Bazel's server jar. JDK 13+
# dumps the classes a run loaded (-XX:ArchiveClassesAtExit) and maps them at the next start (-XX:SharedArchiveFile):
# measured here, a new server building the hello example from a warm disk cache took 6.2-6.4 s instead of 7.1-7.6 s
# (server CPU 9.8-9.9 s instead of 10.8-11.4 s), interleaved runs.
#
#   bash scripts/bazel-cds.sh path    prints where the archive of this machine's Bazel and JDK is (made or not)
#   bash scripts/bazel-cds.sh make    makes it unless it is there (~10 s: one server builds a scratch workspace)
#
# The archive is keyed by the server jar and the JDK (a different Bazel or JDK gets its own), written to a temporary
# name and renamed, so a server never maps half an archive; a JVM that finds no archive, or one made by another JDK,
# starts without it (-Xshare:auto, the default). Kept in ~/.cache/rules_pipeline/bazel-cds, outside the repository.
set -euo pipefail

die() {
  echo "bazel-cds: $*" >&2
  exit 1
}

# Keyed by the Bazel binary and the JDK the server runs on (Debian's Bazel 4 starts the system `java`): another Bazel
# or JDK gets an archive of its own.
bazel_bin="$(readlink -f "$(command -v bazel)")" || die "no bazel on PATH"
java_bin="$(readlink -f "$(command -v java)")" || die "no java on PATH"
key="$( (sha256sum "$bazel_bin" | cut -c1-64; "$java_bin" -version 2>&1) | sha256sum | cut -c1-16)"
dir="${PIPELINE_BAZEL_CDS_DIR:-$HOME/.cache/rules_pipeline/bazel-cds}"
archive="$dir/bazel-$key.jsa"

case "${1:-}" in
path)
  echo "$archive"
  ;;
make)
  if [[ -f "$archive" ]]; then
    echo "bazel-cds: cached: $archive"
    exit 0
  fi
  mkdir -p "$dir"
  scratch="$(mktemp -d)"
  trap 'bazel --output_user_root="$scratch/root" shutdown >/dev/null 2>&1 || true; chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
  start=$SECONDS
  # What a test workspace's server does: load a repository rule, a Starlark rule and a genrule, run sandboxed actions.
  mkdir -p "$scratch/ws"
  cat >"$scratch/ws/WORKSPACE" <<'EOF'
load("//:defs.bzl", "local_files")
local_files(name = "files")
EOF
  cat >"$scratch/ws/defs.bzl" <<'EOF'
def _local_files_impl(rctx):
    rctx.file("BUILD.bazel", 'exports_files(["a.txt"])')
    rctx.file("a.txt", "a")
local_files = repository_rule(implementation = _local_files_impl)

def _upper_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.run_shell(inputs = ctx.files.srcs, outputs = [out], command = "tr a-z A-Z < $1 > $2", arguments = [ctx.files.srcs[0].path, out.path])
    return [DefaultInfo(files = depset([out]))]
upper = rule(implementation = _upper_impl, attrs = {"srcs": attr.label_list(allow_files = True)})
EOF
  cat >"$scratch/ws/BUILD.bazel" <<'EOF'
load("//:defs.bzl", "upper")
upper(name = "up", srcs = ["@files//:a.txt"])
genrule(name = "gen", srcs = [":up"], outs = ["gen.txt"], cmd = "cp $< $@")
EOF
  tmp_archive="$archive.$$.tmp"
  (cd "$scratch/ws" && env -u JAVA_TOOL_OPTIONS bazel --output_user_root="$scratch/root" --host_jvm_args="-XX:ArchiveClassesAtExit=$tmp_archive" build --noshow_progress //:gen >/dev/null 2>&1 &&
    env -u JAVA_TOOL_OPTIONS bazel --output_user_root="$scratch/root" shutdown >/dev/null 2>&1) || die "the scratch build failed"
  # The JVM writes the archive as it exits, after `bazel shutdown` returns: wait for the server to be gone.
  for _ in $(seq 1 100); do
    [[ -s "$tmp_archive" ]] && ! pgrep -f -- "-XX:ArchiveClassesAtExit=$tmp_archive" >/dev/null && break
    sleep 0.1
  done
  [[ -s "$tmp_archive" ]] || die "the JVM wrote no archive at $tmp_archive"
  mv "$tmp_archive" "$archive"
  echo "bazel-cds: made $archive ($(du -h "$archive" | cut -f1)) in $((SECONDS - start)) s"
  ;;
*)
  die "usage: bazel-cds.sh path|make"
  ;;
esac
