#!/usr/bin/env bash
# `npm test`: typecheck, unit tests, then e2e tests (real Bazel, registry, skopeo, umoci, runc).
# Set PIPELINE_TEST_FAST=1 to skip the e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

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

report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
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
