#!/usr/bin/env bash
# `npm run fuzz:worker -- [STEPS] [--bazel]`: the compile worker's differential fuzzers with a random seed (printed):
# the worker against a sandbox-like one-shot compile after every edit (test/unit/tsc-worker-fuzz.test.ts, default
# 300 steps), and with --bazel also through real Bazel, worker against --strategy=TsCompile=sandboxed
# (test/e2e/worker-differential.test.ts). A divergence prints the seed and step; rerun it with
# PIPELINE_FUZZ_SEED=N PIPELINE_FUZZ_STEPS=M npx vitest run test/unit/tsc-worker-fuzz.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=300
bazel=""
for a in "$@"; do
  case "$a" in
    --bazel) bazel=1 ;;
    [0-9]*) steps="$a" ;;
    *) echo "usage: npm run fuzz:worker -- [STEPS] [--bazel]" >&2; exit 2 ;;
  esac
done
export PIPELINE_FUZZ_SEED="${PIPELINE_FUZZ_SEED:-$((RANDOM * 32768 + RANDOM))}" PIPELINE_FUZZ_STEPS="$steps"
echo "fuzz-worker: seed $PIPELINE_FUZZ_SEED, $steps steps" >&2
npx vitest run --project unit test/unit/tsc-worker-fuzz.test.ts
[[ -z "$bazel" ]] || npx vitest run --project e2e-bazel test/e2e/worker-differential.test.ts
