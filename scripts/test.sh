#!/usr/bin/env bash
# `npm test`: typecheck, unit tests, then e2e tests (real Bazel, registry, skopeo, umoci, runc).
# Set PIPELINE_TEST_FAST=1 to skip the e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

report="$(mktemp -d)"
k8s_build=""
cleanup() {
  # An interrupted run stops the background build too (it is safe to interrupt: its partial directory goes).
  [[ -n "$k8s_build" ]] && kill -- -"$k8s_build" 2>/dev/null || true
  rm -rf "$report"
}
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

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  echo "== benchmarks, smoke mode (they still run; no timing is asserted)" >&2
  npm run --silent bench -- --smoke
fi

projects=(--project unit)
[[ -n "${PIPELINE_TEST_FAST:-}" ]] || projects+=(--project e2e)
status=0
npx vitest run "${projects[@]}" --reporter=default --reporter=json --outputFile="$report/results.json" "$@" || status=$?

# The plain closing line CI reads: "N passed, N failed".
node -e '
  const r = require(process.argv[1]);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$report/results.json" || true
exit "$status"
