#!/usr/bin/env bash
# An S3-compatible server on this machine (versitygw, Apache-2.0), for the object store of `map` (docs/scale-out.md)
# and the e2e tests that read and write a real bucket (test/fixtures/s3-server.ts).
#
#   scripts/s3-server.sh build     builds (once) versitygw's server (cmd/versitygw) from the Go module
#                                  github.com/versity/versitygw at $VERSION, cached outside the repository in
#                                  $PIPELINE_S3_ROOT (default ~/.cache/rules_pipeline/versitygw-VERSION)
#   scripts/s3-server.sh path      prints the `versitygw` binary; exits 1 when build has not completed
#
# versitygw's go.mod has no replace directive, so the pinned version is built with `go install …@VERSION` (its own
# go.mod and go.sum, checked against sum.golang.org) into the cache directory. The build runs `nice -n 19`, in
# $ROOT.partial renamed to $ROOT when complete, under a lock: interrupting it loses only the partial directory.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE=github.com/versity/versitygw
VERSION=v1.8.0
ROOT="${PIPELINE_S3_ROOT:-$HOME/.cache/rules_pipeline/versitygw-$VERSION}"

die() { echo "s3-server: $*" >&2; exit 2; }
usage() { sed -n '5,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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
  mkdir -p "$partial/bin"
  : >"$ROOT.build.log"
  step "go install $MODULE/cmd/versitygw@$VERSION (nice -n 19; cold: ~435 packages, ~100 CPU-s)"
  # -dwarf=false -l and CGO_ENABLED=0 as in scripts/k8s-cluster.sh: a smaller compile for a server the tests run
  # briefly. main.Version is what versitygw's Makefile stamps (`versitygw --version`). Run from $partial so that no
  # go.mod around the caller's directory is consulted.
  logged "go install versitygw" env -C "$partial" "${GO_BUILD_ENV[@]}" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    GOBIN="$partial/bin" nice -n 19 go install -trimpath "-gcflags=all=-dwarf=false -l" \
    -ldflags "-s -w -X main.Version=$VERSION" "$MODULE/cmd/versitygw@$VERSION"
  logged "versitygw runs" "$partial/bin/versitygw" --version
  echo "$MODULE $VERSION, made $(date -u +%FT%TZ) in $((SECONDS - start)) s" >"$partial/complete"
  mv "$partial" "$ROOT"
  step "done in $((SECONDS - start)) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
  exec 9>&-
}

case "${1:-}" in
  build) build ;;
  path) [[ -f "$ROOT/complete" ]] && echo "$ROOT/bin/versitygw" ;;
  *) usage ;;
esac
