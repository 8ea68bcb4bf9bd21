#!/usr/bin/env bash
# `npm run demo`: builds examples/hello into an image with Bazel, pushes it to a development registry started
# here (`pipeline registry serve`, on a free loopback port), and launches the pipeline with the pushed URI.
# Extra arguments go to the launch script: `npm run demo -- 1 2 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx tsc -p tsconfig.json   # the CLI outside Bazel (dist/), for the registry

mkdir -p .demo
log=.demo/registry.log
node dist/tools/pipeline.js registry serve --root .demo/registry --port 0 >"$log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "^listening on " "$log" && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
addr="$(sed -n 's/^listening on //p' "$log" | head -n1)"
[[ -n "$addr" ]] || { echo "demo: the registry did not start" >&2; cat "$log" >&2; exit 1; }
echo "demo: development registry on $addr (storage .demo/registry)" >&2

export PIPELINE_REPOSITORY="$addr/examples/hello"
echo "demo: bazel run //examples/hello:hello  (PIPELINE_REPOSITORY=$PIPELINE_REPOSITORY)" >&2
bazel run //examples/hello:hello -- "$@"
