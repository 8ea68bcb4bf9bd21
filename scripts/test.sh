#!/usr/bin/env bash
# `npm test`: typecheck, then unit tests beside e2e tests (real Bazel 4.2.3 and 7.7.1, registry, skopeo, umoci, runc,
# podman, a real Kubernetes cluster).
# Set PIPELINE_TEST_FAST=1 to skip the e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

report="$(mktemp -d)"
k8s_build=""
cleanup() {
  # An interrupted run stops the background build too (it is safe to interrupt: its partial directory goes).
  [[ -n "$k8s_build" ]] && kill -- -"$k8s_build" 2>/dev/null || true
  chmod -R u+w "$report" 2>/dev/null || true
  rm -rf "$report"
}

# The repository cache (bazel/private/repo_cache.bzl) of this run only: the first test to fetch a repository runs
# npm ci / esbuild for real (a native addon is compiled, as its test says), the next ones restore it, and nothing
# accumulates in ~/.cache/rules_pipeline/repos from run to run. test/fixtures/bazel7.ts passes it into the chroot.
if [[ -z "${PIPELINE_REPO_CACHE:-}" ]]; then
  export PIPELINE_REPO_CACHE="$report/repo-cache"
  mkdir -p "$PIPELINE_REPO_CACHE"
fi
trap cleanup EXIT

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  # The Kubernetes server binaries for test/e2e/k8s-real-*.test.ts: built once from Go modules and cached outside the
  # repository (scripts/k8s-cluster.sh build; ~/.cache/rules_pipeline/k8s-VERSION). Cold, the Go build is the long
  # pole, so it starts now in the background at the lowest priority and overlaps with everything before those tests;
  # they wait for $PIPELINE_K8S_BUILD_STATUS (the exit code, written when the build ends; its log beside it).
  export PIPELINE_K8S_BUILD_STATUS="$report/k8s-build.status"
  echo "== Kubernetes binaries (scripts/k8s-cluster.sh build, in the background; log: $PIPELINE_K8S_BUILD_STATUS.log)" >&2
  setsid bash -c '
    started=$SECONDS; rc=0
    nice -n 19 bash scripts/k8s-cluster.sh build >"$1.log" 2>&1 || rc=$?
    echo "$rc" >"$1.tmp" && mv "$1.tmp" "$1"
    echo "k8s build: exit $rc after $((SECONDS - started)) s ($(tail -n 1 "$1.log"))" >&2
  ' k8s-build "$PIPELINE_K8S_BUILD_STATUS" &
  k8s_build=$!
fi

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  # Bazel 7.7.1 for the e2e tests that run it: a Debian sid chroot made once (~5 min, ~1.7 GB) and cached outside the
  # repository ($PIPELINE_BAZEL7_ROOT, default ~/.cache/rules_pipeline/bazel7); a machine that has it only checks.
  echo "== Bazel 7.7.1 chroot (scripts/bazel7.sh setup)" >&2
  started=$SECONDS
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo -E"
  $SUDO bash scripts/bazel7.sh setup
  echo "bazel7 setup: $((SECONDS - started)) s" >&2
fi

echo "== typecheck" >&2
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.test.json   # tests too, with noUnusedLocals

echo "== format and lint (biome ci; npm run format fixes what it can)" >&2
npx biome ci .

# From here on, every Bazel output base a test or the bench makes must go with its temporary workspace (checked below).
touch "$report/started"

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  echo "== benchmarks, smoke mode (they still run; no timing is asserted)" >&2
  npm run --silent bench -- --smoke
fi

status=0
# --passWithNoTests: a file filter given to `npm test -- FILTER` may match only one project's files.
vitest=(npx vitest run --passWithNoTests --reporter=default --reporter=json)
if [[ -n "${PIPELINE_TEST_FAST:-}" ]]; then
  "${vitest[@]}" --project unit --outputFile="$report/unit.json" "$@" || status=$?
else
  # One vitest run with both projects runs every file one at a time (the e2e project's `fileParallelism: false`
  # applies to the whole pool), so the unit files waited behind Bazel. The unit project runs beside the e2e project
  # instead, in its own process (its output is printed when both are done), and the e2e files stay one at a time.
  "${vitest[@]}" --project unit --outputFile="$report/unit.json" "$@" >"$report/unit.log" 2>&1 &
  unit_pid=$!
  "${vitest[@]}" --project e2e --outputFile="$report/e2e.json" "$@" || status=$?
  unit_status=0
  wait "$unit_pid" || unit_status=$?
  echo "== unit tests (ran beside the e2e tests; exit $unit_status)" >&2
  cat "$report/unit.log"
  ((unit_status == 0)) || status=$unit_status
fi

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  # Bazel keeps an output base (~150 MB here) per workspace path until someone deletes it, and a temporary workspace's
  # path never comes back: one started during this run whose workspace is gone is a leak (test/fixtures/bazel.ts
  # discard() removes them). Both output user roots: Bazel 4.2.3's default and the 7.7.1 chroot's.
  roots=("$HOME/.cache/bazel/_bazel_$(id -un)")
  b7="$(bash scripts/bazel7.sh path 2>/dev/null || true)"
  [[ -n "$b7" ]] && roots+=("$b7/output")
  leaked=0
  for root in "${roots[@]}"; do
    for marker in "$root"/*/DO_NOT_BUILD_HERE; do
      [[ -f "$marker" && "$marker" -nt "$report/started" ]] || continue
      ws="$(cat "$marker")"
      [[ -d "$ws" ]] && continue
      echo "leftover: Bazel output base ${marker%/*} ($(du -sh "${marker%/*}" | cut -f1)) of the removed workspace $ws" >&2
      leaked=$((leaked + 1))
    done
  done
  if ((leaked)); then
    echo "FAILED: $leaked Bazel output base(s) outlived their temporary workspace (call discard(ws) from test/fixtures/bazel.ts)" >&2
    status=1
  fi
fi

# The plain closing line CI reads: "N passed, N failed", over both projects.
reports=("$report/unit.json")
[[ -n "${PIPELINE_TEST_FAST:-}" ]] || reports+=("$report/e2e.json")
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of process.argv.slice(1)) {
    if (!fs.existsSync(f)) { failed++; console.error(`no test report ${f}: its run ended before writing one`); continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report/unit.json" $([[ -n "${PIPELINE_TEST_FAST:-}" ]] || echo "$report/e2e.json") || true
exit "$status"
