#!/usr/bin/env bash
# An S3-compatible server on this machine (SeaweedFS, Apache-2.0), for the object store of `map` (docs/scale-out.md)
# and the e2e tests that read and write a real bucket (test/fixtures/s3-server.ts).
#
#   scripts/s3-server.sh build     builds (once) SeaweedFS's `weed` from the Go module github.com/seaweedfs/seaweedfs
#                                  at $VERSION, cached outside the repository in $PIPELINE_S3_ROOT (default
#                                  ~/.cache/rules_pipeline/seaweedfs-VERSION)
#   scripts/s3-server.sh path      prints the `weed` binary; exits 1 when build has not completed
#
# SeaweedFS's go.mod has a replace directive (go-bip39), so `go install …@version` refuses it: it is built from a small
# main module made here that requires that version and repeats the replace (-mod=mod: the requirements are resolved
# from the module's own go.mod and checked against sum.golang.org). The build runs `nice -n 19`, in $ROOT.partial
# renamed to $ROOT when complete, under a lock: interrupting it loses only the partial directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE=github.com/seaweedfs/seaweedfs
VERSION=v0.0.0-20261109003541-7506e5f91cd6
ROOT="${PIPELINE_S3_ROOT:-$HOME/.cache/rules_pipeline/seaweedfs-$VERSION}"

die() { echo "s3-server: $*" >&2; exit 2; }
usage() { sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
step() { printf 's3-server: %s\n' "$*" >&2; }
# shellcheck source=lib/setup-steps.sh
source "$REPO/scripts/lib/setup-steps.sh"
logged() { logged_to "$ROOT.build.log" "s3-server: build" "$@"; }

build() {
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -n 9 || { step "waiting for another build of $ROOT to finish"; flock 9; }
  if [[ -f "$ROOT/complete" ]]; then step "cached: $ROOT ($(cat "$ROOT/complete"))"; exec 9>&-; return; fi
  command -v go >/dev/null || die "build needs Go (the go command) to build $MODULE"
  local start=$SECONDS partial="$ROOT.partial"
  [[ -e "$partial" ]] && { step "removing an interrupted build's $partial"; rm -rf --one-file-system "$partial"; }
  mkdir -p "$partial/bin" "$partial/module"
  : >"$ROOT.build.log"
  # The main module: SeaweedFS's replace applies only to the main module, so it is repeated here.
  cat >"$partial/module/go.mod" <<MOD
module rules_pipeline.local/seaweedfs

go 1.25

require $MODULE $VERSION

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
MOD
  step "go build $MODULE/weed $VERSION (nice -n 19; cold: ~490 modules, ~1,000 CPU-s)"
  # -dwarf=false -l and CGO_ENABLED=0 as in scripts/k8s-cluster.sh: a smaller compile for a server the tests run
  # briefly; SeaweedFS's own release images are built without cgo too.
  logged "go build weed" env -C "$partial/module" "${GO_BUILD_ENV[@]}" CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
    nice -n 19 go build -trimpath "-gcflags=all=-dwarf=false -l" -ldflags "-s -w" -o "$partial/bin/weed" "$MODULE/weed"
  logged "weed runs" "$partial/bin/weed" version
  rm -rf "$partial/module"
  echo "$MODULE $VERSION, made $(date -u +%FT%TZ) in $((SECONDS - start)) s" >"$partial/complete"
  mv "$partial" "$ROOT"
  step "done in $((SECONDS - start)) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
  exec 9>&-
}

case "${1:-}" in
  build) build ;;
  path) [[ -f "$ROOT/complete" ]] && echo "$ROOT/bin/weed" ;;
  *) usage ;;
esac
