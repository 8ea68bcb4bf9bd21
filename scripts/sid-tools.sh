#!/usr/bin/env bash
# Debian sid's registry tools, unpacked (not installed): cosign and oras for the tests, crane for the benchmarks.
#
#   scripts/sid-tools.sh setup     downloads (once) sid's cosign, oras and crane .debs from the host's own Debian mirror
#                                  and unpacks them with dpkg-deb -x into $PIPELINE_SID_TOOLS (default
#                                  ~/.cache/rules_pipeline/sid-tools); prints the bin directory
#   scripts/sid-tools.sh path      prints the bin directory; exits 1 when setup has not completed
#
# apt runs with a private state directory and a sources file naming the host's mirror with suite sid ([trusted=yes];
# sid's Release file on a snapshot mirror is expired, hence Check-Valid-Until=false): nothing of the host's apt state
# changes and nothing is installed. The tools are static Go binaries that run on bookworm. A cache made before a tool
# joined the list gets only the missing ones. The mirror is the first
# one the host's apt sources name; $PIPELINE_DEBIAN_MIRROR overrides it.
set -euo pipefail

ROOT="${PIPELINE_SID_TOOLS:-$HOME/.cache/rules_pipeline/sid-tools}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(cosign oras crane)
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"

die() { echo "sid-tools: $*" >&2; exit 2; }

# The packages whose usr/bin/NAME is not in the cache yet.
missing() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do [[ -x "$ROOT/usr/bin/$pkg" ]] || echo "$pkg"; done
}

setup() {
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.setup.lock"
  flock 9
  local -a want
  mapfile -t want < <(missing)
  if [[ -f "$ROOT/.complete" && ${#want[@]} == 0 ]]; then echo "$ROOT/usr/bin"; return; fi
  local work pkg
  work="$(mktemp -d "$ROOT/.partial.XXXXXX")"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  # sid_unpack and logged_to: scripts/lib/setup-steps.sh (shared with bazel7.sh and k8s-cluster.sh).
  logged_to "$work/apt.log" sid-tools "apt-get download ${want[*]} (sid from $(host_mirror))" sid_unpack "$work/apt" "$work/out" "${want[@]}"
  for pkg in "${want[@]}"; do
    [[ -x "$work/out/usr/bin/$pkg" ]] || die "the $pkg package holds no usr/bin/$pkg"
  done
  # Beside the tools already there (cp -a merges the trees); .complete lists every .deb unpacked so far.
  mkdir -p "$ROOT/usr"
  cp -a "$work/out/usr/." "$ROOT/usr/"
  (cd "$work/apt/debs" && ls ./*.deb) | sed 's|^\./||' >>"$ROOT/.complete"
  echo "$ROOT/usr/bin"
}

case "${1:-}" in
  setup) setup ;;
  path) [[ -f "$ROOT/.complete" && -z "$(missing)" ]] && echo "$ROOT/usr/bin" ;;
  *) sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
