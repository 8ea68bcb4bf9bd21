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
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"

die() { echo "sid-tools: $*" >&2; exit 2; }

setup() {
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.setup.lock"
  flock 9
  if [[ -f "$ROOT/.complete" ]]; then echo "$ROOT/usr/bin"; return; fi
  local work pkg
  work="$(mktemp -d "$ROOT/.partial.XXXXXX")"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  # sid_unpack and logged_to: scripts/lib/setup-steps.sh (shared with bazel7.sh and k8s-cluster.sh).
  logged_to "$work/apt.log" sid-tools "apt-get download ${PACKAGES[*]} (sid from $(host_mirror))" sid_unpack "$work/apt" "$work/out" "${PACKAGES[@]}"
  for pkg in "${PACKAGES[@]}"; do
    [[ -x "$work/out/usr/bin/$pkg" ]] || die "the $pkg package holds no usr/bin/$pkg"
  done
  rm -rf "$ROOT/usr"
  mv "$work/out/usr" "$ROOT/usr"
  (cd "$work/apt/debs" && ls ./*.deb) | sed 's|^\./||' >"$ROOT/.complete"
  echo "$ROOT/usr/bin"
}

case "${1:-}" in
  setup) setup ;;
  path) [[ -f "$ROOT/.complete" ]] && echo "$ROOT/usr/bin" ;;
  *) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
