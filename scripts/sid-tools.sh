#!/usr/bin/env bash
# Debian sid's supply-chain checkers, unpacked (not installed) for the tests: cosign and oras.
#
#   scripts/sid-tools.sh setup     downloads (once) sid's cosign and oras .debs from the host's own Debian mirror and
#                                  unpacks them with dpkg-deb -x into $PIPELINE_SID_TOOLS (default
#                                  ~/.cache/rules_pipeline/sid-tools); prints the bin directory
#   scripts/sid-tools.sh path      prints the bin directory; exits 1 when setup has not completed
#
# apt runs with a private state directory and a sources file naming the host's mirror with suite sid ([trusted=yes];
# sid's Release file on a snapshot mirror is expired, hence Check-Valid-Until=false): nothing of the host's apt state
# changes and nothing is installed. Both tools are static Go binaries that run on bookworm. The mirror is the first
# one the host's apt sources name; $PIPELINE_DEBIAN_MIRROR overrides it.
set -euo pipefail

ROOT="${PIPELINE_SID_TOOLS:-$HOME/.cache/rules_pipeline/sid-tools}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(cosign oras)
# shellcheck source=scripts/lib/debian-mirror.sh
source "$REPO/scripts/lib/debian-mirror.sh"

die() { echo "sid-tools: $*" >&2; exit 2; }

setup() {
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.setup.lock"
  flock 9
  if [[ -f "$ROOT/.complete" ]]; then echo "$ROOT/usr/bin"; return; fi
  local mirror apt work log pkg deb
  mirror="$(host_mirror PIPELINE_DEBIAN_MIRROR)" || die "no Debian mirror found in /etc/apt/sources.list*; set PIPELINE_DEBIAN_MIRROR=http://…/debian"
  work="$(mktemp -d "$ROOT/.partial.XXXXXX")"
  log="$work/apt.log"
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/out"
  echo "deb [trusted=yes] $mirror sid main" >"$work/sources.list"
  apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives" -o "Dir::Cache=$work"
    -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
  if ! "${apt[@]}" update >"$log" 2>&1; then tail -n 20 "$log" >&2; rm -rf "$work"; die "apt-get update (sid from $mirror) failed"; fi
  for pkg in "${PACKAGES[@]}"; do
    if ! (cd "$work/archives" && "${apt[@]}" download "$pkg") >>"$log" 2>&1; then
      tail -n 20 "$log" >&2; rm -rf "$work"; die "apt-get download $pkg (sid from $mirror) failed"
    fi
  done
  for deb in "$work"/archives/*.deb; do dpkg-deb -x "$deb" "$work/out"; done
  for pkg in "${PACKAGES[@]}"; do
    [[ -x "$work/out/usr/bin/$pkg" ]] || { rm -rf "$work"; die "the $pkg package holds no usr/bin/$pkg"; }
  done
  rm -rf "$ROOT/usr"
  mv "$work/out/usr" "$ROOT/usr"
  (cd "$work/archives" && ls ./*.deb) | sed 's|^\./||' >"$ROOT/.complete"
  rm -rf "$work"
  echo "$ROOT/usr/bin"
}

case "${1:-}" in
  setup) setup ;;
  path) [[ -f "$ROOT/.complete" ]] && echo "$ROOT/usr/bin" ;;
  *) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
