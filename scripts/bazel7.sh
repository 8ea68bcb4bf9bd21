#!/usr/bin/env bash
# Bazel 7.7.1 on a Debian/Ubuntu machine that has no newer Bazel and no route to the Bazel Central Registry.
#
#   scripts/bazel7.sh setup                 makes (once) a Debian sid chroot holding Debian's bazel-bootstrap 7.7.1,
#                                           podman and the host's node/npm; cached outside the repository in
#                                           $PIPELINE_BAZEL7_ROOT (default ~/.cache/rules_pipeline/bazel7)
#   scripts/bazel7.sh run DIR -- ARGS...    runs `bazel ARGS` (7.7.1) in DIR and prints nothing but Bazel's output
#   scripts/bazel7.sh probe DIR             does what `run` does (the namespace, mounts, pivot_root and environment)
#                                           but runs `true` instead of Bazel: times this wrapper's own cost (bench)
#   scripts/bazel7.sh path                  prints the cache directory; exits 1 when setup has not completed
#   scripts/bazel7.sh output-root           prints the output user root (ROOT/output: the output bases), set up or not
#
# `run` works in a private mount namespace (unshare -m): DIR, this checkout, the stubs, the output user root and
# $PIPELINE_BAZEL7_MOUNTS (colon-separated host paths) are bind-mounted at the same absolute paths inside the chroot,
# so the bazel-* symlinks Bazel writes into DIR resolve on the host too. A path under another one of them is not
# mounted again: it is seen through that one, on the same mount, so hard links between the two work (a link across
# two bind mounts fails with EXDEV; bootstrap/repo_cache.js then copies). No mount is ever visible outside the
# namespace; the kernel removes them when its last process exits (also on SIGINT, SIGTERM or failure). The Bazel
# server started by a run lives in that run's namespace until `bazel shutdown` (or --max_idle_secs) ends it, so two
# runs at once never touch each other's mounts. The environment inside is empty (env -i) except PATH, HOME, TERM,
# LANG and the variables named in $PIPELINE_BAZEL7_ENV (space-separated names).
# $PIPELINE_BAZEL7_JVM_ARGS (space-separated) become the server's `--host_jvm_args` startup options (scripts/test.sh
# sets them; a server started with other ones is restarted).
#
# Offline bzlmod: bazel_tools' own MODULE.bazel asks the registry for apple_support, buildozer, zlib and protobuf;
# Debian's /etc/bazel/bazelrc covers the rest. The four are answered by stub modules generated in $ROOT/stubs and
# passed with `common --override_module=NAME=DIR` from $ROOT/bazelrc (read through --bazelrc, with
# `startup --output_user_root=$ROOT/output`, so output bases persist between runs).
#
# setup builds into $ROOT/chroot.partial and renames it to $ROOT/chroot when complete: interrupting it loses only
# the partial tree (removed by the next setup); a lock file serializes concurrent setups.
set -euo pipefail

ROOT="${PIPELINE_BAZEL7_ROOT:-$HOME/.cache/rules_pipeline/bazel7}"
CHROOT="$ROOT/chroot"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STUB_MODULES=(apple_support buildozer zlib protobuf)
# What the chroot holds from sid: Bazel; podman (NAME_load); runc, which launch scripts run local containers with
# (podman's default crun cannot run on a cgroup v1/hybrid host); the CA bundle apt and npm verify mirrors with;
# stardoc and the Java tools its renderer (a java_binary) builds with (scripts/rule-docs.sh).
PACKAGES=(bazel-bootstrap podman runc ca-certificates bazel-stardoc bazel-java-tools)
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "bazel7: $*" >&2; exit 2; }
# host_mirror (the Debian mirror to debootstrap sid from), logged_to
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need_root() { [[ "$(id -u)" == 0 ]] || die "$1 needs root (debootstrap, chroot and bind mounts); run it with sudo"; }

# --- setup -------------------------------------------------------------------------------------------------------

# One line per step: a plain line off a terminal, the same line in bold on one.
step() { if [[ -t 2 ]]; then printf '\033[1mbazel7: %s\033[0m\n' "$*" >&2; else printf 'bazel7: %s\n' "$*" >&2; fi; }

# Runs "$@" with stdout+stderr in the setup log; on failure prints the log's last lines, naming the step.
logged() { logged_to "$ROOT/setup.log" bazel7 "$@"; }

# Setup's long steps run in their own mount and PID namespaces: the mounts they make vanish with them, and stopping
# setup (SIGINT, SIGTERM) kills the whole step: unshare's --kill-child takes down the namespace's PID 1, and with it
# every process in the namespace (dpkg, wget…), which a plain child would leave running behind.
CHILD=""
isolated() {
  local rc=0
  unshare -m -p -f --kill-child --propagation private "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}
stop_setup() {
  [[ -n "$CHILD" ]] && kill -KILL "$CHILD" 2>/dev/null
  echo "bazel7: setup interrupted; the next setup starts again from scratch" >&8
  exit "$1"
}

# Commands inside the partial chroot, with proc, dev and sys mounted in the step's namespace.
in_partial() {
  local dir="$1"; shift
  isolated bash -euc '
    dir="$1"; shift
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    mount --rbind /sys "$dir/sys"
    exec chroot "$dir" /usr/bin/env -i PATH='"$CHROOT_PATH"' HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
  ' bash "$dir" "$@"
}

write_stubs() {
  local stubs="$ROOT/stubs" name
  for name in "${STUB_MODULES[@]}"; do
    mkdir -p "$stubs/$name"
    printf '# Offline stub (scripts/bazel7.sh): bazel_tools names this module; nothing a build needs is in it.\nmodule(name = "%s")\n' "$name" >"$stubs/$name/MODULE.bazel"
    : >"$stubs/$name/BUILD.bazel"
  done
  # `bazel mod graph/tidy` load buildozer's extension: a repository whose buildozer.exe is $PIPELINE_BUILDOZER
  # (e.g. node_modules/@bazel/buildozer's binary) or, without one, a script that says so.
  cat >"$stubs/buildozer/buildozer_binary.bzl" <<'EOF'
"""Offline stub of buildozer's buildozer_binary extension (scripts/bazel7.sh)."""

def _repo_impl(rctx):
    real = rctx.os.environ.get("PIPELINE_BUILDOZER", "")
    if real:
        rctx.symlink(real, "buildozer.exe")
    else:
        rctx.file("buildozer.exe", "#!/bin/sh\necho 'buildozer stub: set --repo_env=PIPELINE_BUILDOZER=/path/to/buildozer' >&2\nexit 1\n", executable = True)
    rctx.file("BUILD.bazel", 'exports_files(["buildozer.exe"])\n')

_repo = repository_rule(implementation = _repo_impl, environ = ["PIPELINE_BUILDOZER"])

def _ext_impl(_mctx):
    _repo(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _ext_impl)
EOF
}

write_bazelrc() {
  local rc="$ROOT/bazelrc" tmp name archive
  archive="$(cds_archive)" # hashes the 30 MB server jar: once
  tmp="$(mktemp "$ROOT/.bazelrc.XXXXXX")"
  {
    echo "# Generated by scripts/bazel7.sh: read through --bazelrc by every \`bazel7.sh run\`."
    echo "startup --output_user_root=$ROOT/output"
    for name in "${STUB_MODULES[@]}"; do echo "common --override_module=$name=$ROOT/stubs/$name"; done
    # Bazel 7 gives sandboxed actions an empty /tmp (--incompatible_sandbox_hermetic_tmp): a rules checkout under
    # /tmp (a CI clone, local_path_override) would vanish from their inputs' symlink targets.
    echo "build --noincompatible_sandbox_hermetic_tmp"
    # Debian's 7.7.1 writes MODULE.bazel.lock as `{}` (docs/bazel.md) and, reading that back, writes it again after
    # every command that used a module extension's repositories; the next command then re-resolves the module graph:
    # 15-90 ms computing the main repository mapping and 25-160 ms of skyframe evaluation on a no-op build, against
    # under 1 and 4-9 ms with the lockfile off (2026-11-27, `--profile`). Upstream Bazel rewrites it only on a change.
    echo "common --lockfile_mode=off"
    # The server's classes from an archive (make_cds), once one is made for this Bazel and JDK.
    [[ -f "$archive" ]] && echo "startup --host_jvm_args=-XX:SharedArchiveFile=$archive"
  } >"$tmp"
  if cmp -s "$tmp" "$rc" 2>/dev/null; then rm -f "$tmp"; else mv -f "$tmp" "$rc"; fi
}

# A chroot made before PACKAGES grew gets what it lacks (apt, under the setup lock; a few seconds per package).
add_missing_packages() {
  local missing=() name
  for name in "${PACKAGES[@]}"; do # the host's dpkg-query reads the chroot's database: no mounts, milliseconds
    dpkg-query --admindir="$CHROOT/var/lib/dpkg" -W -f '${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' || missing+=("$name")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  exec 8>&2
  step "adding ${missing[*]} to the cached chroot (apt)"
  logged "apt-get update in the chroot" in_partial "$CHROOT" apt-get update
  logged "apt-get install in the chroot" in_partial "$CHROOT" apt-get install -y --no-install-recommends "${missing[@]}"
  in_partial "$CHROOT" apt-get clean >/dev/null 2>&1 || true
}

# Node's headers for node-gyp (native addons in `allow_install_scripts`): the host's, beside the copy of its node, and
# npm's `nodedir` pointing at them, so `npm rebuild` compiles offline inside the chroot as on the host (without them
# node-gyp tries to download the headers: "gyp ... This is most likely not a problem with node-gyp ... network
# connectivity"). The headers must be the same Node version as the node copied in: a mismatch is refused here. Also
# run for a chroot made before this step existed.
add_node_headers() {
  local tree="$1" headers want have
  headers="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node"
  [[ -f "$tree/usr/local/include/node/common.gypi" ]] && return
  if [[ ! -f "$headers/node_version.h" ]]; then
    step "no Node headers at $headers: native addons (allow_install_scripts) will not build inside the chroot"
    return
  fi
  want="$("$tree/usr/local/bin/node" --version)"
  have="v$(awk '/define NODE_(MAJOR|MINOR|PATCH)_VERSION /{printf "%s%s", sep, $3; sep="."}' "$headers/node_version.h")"
  [[ "$want" == "$have" ]] || die "the Node headers at $headers are $have but the chroot's node is $want: install the headers of $want"
  step "copying Node's headers ($have) to /usr/local/include/node; npm's nodedir=/usr/local"
  mkdir -p "$tree/usr/local/include"
  rm -rf "$tree/usr/local/include/node.partial"
  cp -a "$headers" "$tree/usr/local/include/node.partial"
  mv "$tree/usr/local/include/node.partial" "$tree/usr/local/include/node"
  grep -qx 'nodedir=/usr/local' "$tree/usr/local/etc/npmrc" || echo 'nodedir=/usr/local' >>"$tree/usr/local/etc/npmrc"
}

# A class-data-sharing archive of the Bazel 7 server's classes (as scripts/bazel-cds.sh makes for Bazel 4): a server
# maps them instead of loading and verifying them. Measured here, a new server building the worker-differential
# workspace: 6.4 s of server CPU instead of 8.2 (3 interleaved runs each). Keyed by the server jar and the chroot's
# JDK; under $ROOT/output, which every run binds. Made by setup (under its lock, so every server of a test run starts
# with the same startup options), from a scratch build; a JVM that cannot use it starts without it.
cds_archive() {
  local key
  key="$( (sha256sum "$CHROOT/usr/share/bazel/A-server.jar" 2>/dev/null | cut -c1-64; readlink -f "$CHROOT/usr/lib/jvm/default-java"; cat "$CHROOT/usr/lib/jvm/default-java/release" 2>/dev/null) | sha256sum | cut -c1-16)"
  echo "$ROOT/output/cds/bazel7-$key.jsa"
}

make_cds() {
  local archive scratch tmp_archive ob start=$SECONDS
  archive="$(cds_archive)"
  [[ -f "$archive" ]] && return
  mkdir -p "$(dirname "$archive")"
  scratch="$(mktemp -d)"
  tmp_archive="$archive.$$.tmp"
  ob="$ROOT/output/cds-scratch-$$"
  printf 'module(name = "cds_scratch")\n' >"$scratch/MODULE.bazel"
  printf 'genrule(name = "gen", outs = ["gen.txt"], cmd = "echo a > $@")\n' >"$scratch/BUILD.bazel"
  if PIPELINE_BAZEL7_JVM_ARGS= bash "${BASH_SOURCE[0]}" run "$scratch" -- --output_base="$ob" --host_jvm_args="-XX:ArchiveClassesAtExit=$tmp_archive" build --noshow_progress //:gen >"$ROOT/cds.log" 2>&1 &&
    PIPELINE_BAZEL7_JVM_ARGS= bash "${BASH_SOURCE[0]}" run "$scratch" -- --output_base="$ob" --host_jvm_args="-XX:ArchiveClassesAtExit=$tmp_archive" shutdown >>"$ROOT/cds.log" 2>&1; then
    # The JVM writes the archive as it exits, after `shutdown` returns.
    for _ in $(seq 1 100); do
      [[ -s "$tmp_archive" ]] && ! pgrep -f -- "-XX:ArchiveClassesAtExit=$tmp_archive" >/dev/null && break
      sleep 0.1
    done
  fi
  if [[ -s "$tmp_archive" ]]; then
    mv "$tmp_archive" "$archive"
    step "made the server class archive $archive ($(du -h "$archive" | cut -f1)) in $((SECONDS - start)) s"
  else
    rm -f "$tmp_archive"
    step "no server class archive (servers start without one): see $ROOT/cds.log"
  fi
  chmod -R u+w "$ob" 2>/dev/null || true
  rm -rf "$ob" "$scratch"
}

setup() {
  need_root "setup"
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.setup.lock"
  flock -n 9 || { step "waiting for another setup of $ROOT to finish"; flock 9; }
  if [[ -f "$CHROOT/.rules_pipeline-complete" ]]; then
    add_missing_packages
    add_node_headers "$CHROOT"
    write_stubs; write_bazelrc
    make_cds; write_bazelrc
    step "cached: $CHROOT ($(cat "$CHROOT/.rules_pipeline-complete"))"
    return
  fi
  local start=$SECONDS partial="$ROOT/chroot.partial" mirror node npm_dir
  mirror="$(host_mirror)"
  : >"$ROOT/setup.log"
  exec 8>&2 # the handlers may run inside logged's redirection
  trap 'stop_setup 130' INT
  trap 'stop_setup 143' TERM
  # A partial tree is never mounted outside a finished in_partial, so removing it is safe.
  [[ -e "$partial" ]] && { step "removing an interrupted setup's $partial"; rm -rf --one-file-system "$partial"; }
  if ! command -v debootstrap >/dev/null; then
    step "installing debootstrap (apt)"
    logged "apt-get install debootstrap" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  fi
  step "debootstrap --variant=minbase sid from $mirror (a few minutes)"
  logged debootstrap isolated debootstrap --variant=minbase sid "$partial" "$mirror"
  cp /etc/resolv.conf /etc/hosts "$partial/etc/"
  echo 'Acquire::Check-Valid-Until "false";' >"$partial/etc/apt/apt.conf.d/99rules-pipeline-no-valid-until"
  # dpkg without an fsync per file (a chroot made in $partial and renamed when whole: a crash leaves nothing to trust)
  # and without the packages' documentation and manual pages, which nothing here reads.
  printf 'force-unsafe-io\npath-exclude=/usr/share/doc/*\npath-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n' \
    >"$partial/etc/dpkg/dpkg.cfg.d/99rules-pipeline"
  step "apt-get update (sid)"
  logged "apt-get update in the chroot" in_partial "$partial" apt-get update
  step "apt-get install ${PACKAGES[*]} (~650 MB)"
  logged "apt-get install in the chroot" in_partial "$partial" apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  in_partial "$partial" apt-get clean >/dev/null 2>&1 || true

  step "copying the host's node and npm under /usr/local"
  node="$(readlink -f "$(command -v node)")" || die "no node on PATH to copy into the chroot"
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  [[ -f "$npm_dir/package.json" ]] || die "cannot find npm's package directory (from $(command -v npm))"
  mkdir -p "$partial/usr/local/bin" "$partial/usr/local/lib/node_modules" "$partial/usr/local/etc"
  cp "$node" "$partial/usr/local/bin/node"
  cp -a "$npm_dir" "$partial/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$partial/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$partial/usr/local/bin/npx"
  # The host's CA bundle (it may hold a proxy's CA the registries need), for npm and node inside.
  cp /etc/ssl/certs/ca-certificates.crt "$partial/usr/local/etc/host-ca-certificates.crt"
  printf 'cafile=/usr/local/etc/host-ca-certificates.crt\naudit=false\nfund=false\nupdate-notifier=false\n' >"$partial/usr/local/etc/npmrc"
  logged "node inside the chroot" in_partial "$partial" node --version
  add_node_headers "$partial"
  logged "bazel inside the chroot" in_partial "$partial" bash -c 'command -v bazel && test -x /usr/bin/bazel'

  local version
  version="$(in_partial "$partial" dpkg-query -W -f '${Version}' bazel-bootstrap)"
  echo "bazel-bootstrap $version, node $("$node" --version), made $(date -u +%FT%TZ) in $((SECONDS - start)) s" >"$partial/.rules_pipeline-complete"
  mv "$partial" "$CHROOT"
  write_stubs; write_bazelrc
  make_cds; write_bazelrc
  step "done in $((SECONDS - start)) s: $CHROOT ($(du -sh --one-file-system "$CHROOT" | cut -f1))"
}

# --- run ---------------------------------------------------------------------------------------------------------

# run NAMESPACE_CMD DIR [--] ARGS...: NAMESPACE_CMD (__in_namespace, or __probe for `probe`) in a private mount namespace.
run() {
  local inner="$1"
  shift
  need_root "run"
  [[ $# -ge 1 ]] || usage
  local dir
  dir="$(cd "$1" 2>/dev/null && pwd -P)" || die "no such directory: $1"
  shift
  [[ "${1:-}" == "--" ]] && shift
  [[ -f "$CHROOT/.rules_pipeline-complete" ]] || die "no Bazel 7 chroot at $CHROOT: run scripts/bazel7.sh setup first"
  [[ -f "$ROOT/bazelrc" && -d "$ROOT/stubs" ]] || { write_stubs; write_bazelrc; }
  mkdir -p "$ROOT/output"
  exec unshare -m --propagation private -- bash "${BASH_SOURCE[0]}" "$inner" "$dir" "$@"
}

# under_bind PATH BIND...: whether PATH lies strictly under one of the BINDs (then it is not mounted of its own).
under_bind() {
  local path="$1" b
  shift
  for b in "$@"; do [[ "$b" != "$path" && "$path" == "${b%/}/"* ]] && return 0; done
  return 1
}

# in_namespace bazel|probe DIR ARGS...: inside the private namespace: mount, make the chroot the namespace's root
# (pivot_root), then become the Bazel client (exec, so signals reach Bazel directly; `probe`: `true` instead). pivot_root rather than chroot: a later run's client checks the
# server's cwd through /proc/PID/cwd, which the kernel spells relative to the server namespace's root mount; under a
# plain chroot it would read $CHROOT/DIR, and the client would kill the server as "moved".
in_namespace() {
  local what="$1" dir="$2" src; shift 2
  local -a binds=() extra envs
  IFS=: read -r -a extra <<<"${PIPELINE_BAZEL7_MOUNTS:-}"
  # Real paths, so that "under another one" compares like with like.
  for src in "$dir" "$REPO" "$ROOT/stubs" "$ROOT/output" "$ROOT/bazelrc" "${extra[@]}"; do [[ -n "$src" ]] && binds+=("$(readlink -f "$src")"); done
  mount --bind "$CHROOT" "$CHROOT"
  mount -t proc proc "$CHROOT/proc"
  mount --rbind /dev "$CHROOT/dev"
  mount --rbind /sys "$CHROOT/sys"
  local -A bound=()
  for src in "${binds[@]}"; do
    [[ -e "$src" ]] || die "cannot mount $src into the chroot: it does not exist"
    under_bind "$src" "${binds[@]}" && continue
    [[ -n "${bound[$src]:-}" ]] && continue
    bound[$src]=1
    if [[ -d "$src" ]]; then mkdir -p "$CHROOT$src"; else mkdir -p "$(dirname "$CHROOT$src")"; touch "$CHROOT$src"; fi
    mount --rbind "$src" "$CHROOT$src"
  done
  envs=(PATH="$CHROOT_PATH" HOME=/root USER=root LANG=C.UTF-8 TERM="${TERM:-dumb}")
  for src in ${PIPELINE_BAZEL7_ENV:-}; do [[ -n "${!src+x}" ]] && envs+=("$src=${!src}"); done
  mkdir -p "$CHROOT/.host"
  cd "$CHROOT"
  pivot_root . .host
  umount -l /.host
  local -a jvm=()
  for src in ${PIPELINE_BAZEL7_JVM_ARGS:-}; do jvm+=("--host_jvm_args=$src"); done
  [[ "$what" == probe ]] && exec /usr/bin/env -i -C "$dir" "${envs[@]}" true
  exec /usr/bin/env -i -C "$dir" "${envs[@]}" bazel --bazelrc="$ROOT/bazelrc" "${jvm[@]}" "$@"
}

case "${1:-}" in
  setup) shift; setup "$@" ;;
  run) shift; run __in_namespace "$@" ;;
  probe) shift; [[ $# -eq 1 ]] || usage; run __probe "$1" ;;
  __probe) shift; in_namespace probe "$@" ;;
  path) [[ -f "$CHROOT/.rules_pipeline-complete" ]] && echo "$ROOT" ;;
  output-root) echo "$ROOT/output" ;;
  __in_namespace) shift; in_namespace bazel "$@" ;;
  *) usage ;;
esac
