#!/usr/bin/env bash
# `npm test`: the e2e files in one pool of cores + 1 workers ($PIPELINE_TEST_WORKERS; the longest files first,
# vitest.config.ts), and beside it the typecheck and lint, the unit files (one worker) and the real-cluster files, one
# at a time.
# Set-up that a fresh machine lacks runs in the background from the start: the Bazel 7.7.1 chroot (the Bazel 7 tests
# wait for its lock), the rules_js kit's tools (its lock), the Kubernetes binaries (the cluster files wait for its
# status file) and the S3 server (the object-store files wait for its status file).
# At the end: where the time went (steps and the slowest files: a report, never an assertion) and the closing line.
# PIPELINE_TEST_FAST=1 runs the unit project only (`npm run test:quick`: typecheck and lint first, then that).
# Arguments are passed to vitest (a file filter: `npm test -- test/e2e/sbom.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."

# The pool's width (below), checked before anything starts.
workers="${PIPELINE_TEST_WORKERS:-$(($(nproc) + 1))}"
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "PIPELINE_TEST_WORKERS: expected a whole number ≥ 1, got '$workers'" >&2; exit 2; }

report="$(mktemp -d)"
phases="$report/phases.tsv"
run_start=$(date +%s.%N)
# shellcheck source=lib/run-groups.sh
source scripts/lib/run-groups.sh
stop_on_signals
# The run's Node processes read the CA store on their first TLS connection, not at start, where that is the same trust
# (lib/node-ca.sh: ~40-50 ms of CPU less for each Node process the tests, npm and the repository rules start here).
# shellcheck source=lib/node-ca.sh
source scripts/lib/node-ca.sh
# shellcheck source=lib/setup-steps.sh
source scripts/lib/setup-steps.sh # GO_BUILD_ENV, for the kit's Go builds below
node_ca_on_first_use
# Each test file's CPU time (test/fixtures/cpu-per-file.ts): a cgroup v1 `cpuacct` group for the run, one per file
# under it, so that what a file starts (Bazel servers daemonize) counts for it. Where the hierarchy is missing or not
# writable, the report says so and nothing else changes. remove_cpu_groups (cleanup) moves what is left in them to
# the root group and removes them.
cpu_root=/sys/fs/cgroup/cpuacct
remove_cpu_groups() {
  [[ -n "${PIPELINE_TEST_CPU_CGROUP:-}" && -d "$PIPELINE_TEST_CPU_CGROUP" ]] || return 0
  local g pid
  for g in "$PIPELINE_TEST_CPU_CGROUP"/*/ "$PIPELINE_TEST_CPU_CGROUP"/; do
    [[ -d "$g" ]] || continue
    while read -r pid; do echo "$pid" >"$cpu_root/cgroup.procs" 2>/dev/null || true; done <"$g/cgroup.procs"
  done
  for g in "$PIPELINE_TEST_CPU_CGROUP"/*/ "$PIPELINE_TEST_CPU_CGROUP"/; do [[ -d "$g" ]] && { rmdir "$g" 2>/dev/null || true; }; done
  return 0
}
if [[ -w "$cpu_root/cgroup.procs" ]] && mkdir "$cpu_root/rules_pipeline-test.$$" 2>/dev/null; then
  export PIPELINE_TEST_CPU_CGROUP="$cpu_root/rules_pipeline-test.$$" PIPELINE_TEST_CPU_OUT="$report/cpu.tsv"
fi
head -n 1 /proc/stat >"$report/cpu-start"

cleanup() {
  # Every step still running stops (the background set-ups too: each is safe to interrupt, a partial directory goes
  # under a lock). An interrupted run also stops what its tests had started and would have stopped themselves: the
  # Bazel servers (and output bases) of its workspaces and its Kubernetes cluster.
  stop_groups
  if ((RUN_INTERRUPTED)) && [[ -f "$report/started" ]]; then
    stop_bazel_servers "$report/started" "${bazel_roots[@]}"
    local owner=/run/rules_pipeline-k8s.owner
    if [[ -f "$owner" && "$(cat "$owner")" -nt "$report/started" ]]; then
      echo "stopping the Kubernetes cluster of $(cat "$owner")" >&2
      bash scripts/k8s-cluster.sh down "$(cat "$owner")" >&2 || true
    fi
  fi
  remove_cpu_groups
  chmod -R u+w "$report" ${run_repo_cache:+"$run_repo_cache"} 2>/dev/null || true
  rm -rf "$report" ${run_repo_cache:+"$run_repo_cache"}
}
trap cleanup EXIT
# Both output user roots: Bazel 4.2.3's default and the 7.7.1 chroot's (the leak check below, and cleanup()), the
# latter also on a machine whose chroot the background set-up below is still making.
bazel7_output_root="$(bash scripts/bazel7.sh output-root)"
bazel_roots=("$HOME/.cache/bazel/_bazel_$(id -un)" "$bazel7_output_root")

# phase NAME CMD...: runs CMD, recording NAME's start and end (seconds since the run began) for the report.
phase() {
  local name="$1" start rc=0
  shift
  start=$(date +%s.%N)
  "$@" || rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$start" "$(date +%s.%N)" "$rc" >>"$phases"
  return "$rc"
}

# background NAME NICE STATUS CMD...: runs CMD in its own process group at niceness NICE, its output in STATUS.log,
# its exit code written to STATUS when it ends (what the tests that need it wait for).
background() {
  local name="$1" niceness="$2" status="$3"
  shift 3
  echo "== $name (in the background; log: $status.log)" >&2
  setsid bash -c '
    name="$1" niceness="$2" status="$3" phases="$4"; shift 4
    start=$(date +%s.%N); rc=0
    nice -n "$niceness" "$@" >"$status.log" 2>&1 || rc=$?
    printf "%s\t%s\t%s\t%s\n" "$name (background)" "$start" "$(date +%s.%N)" "$rc" >>"$phases"
    echo "$rc" >"$status.tmp" && mv "$status.tmp" "$status"
    echo "$name: exit $rc ($(tail -n 1 "$status.log"))" >&2
  ' background "$name" "$niceness" "$status" "$phases" "$@" &
  RUN_GROUPS+=($!)
}

phase "set-up: install-deps" bash scripts/install-deps.sh # foreground: apt may ask sudo for a password

# The repository cache (bazel/private/repositories/repo_cache.bzl) the test runs share, as a user's builds share theirs: kept
# between runs, so a warm run restores the consumer workspaces' npm trees and the rules' tools instead of running npm ci
# and esbuild again (a CI-like run, 2026-11-28: 99 npm ci runs in repository rules, 343 of its 2,607 busy core-s). An
# entry's key is everything its fetch reads (the lockfile, npm's version and configuration, the rules' own sources:
# repo_cache.bzl), so an edit to the rules or a fixture makes a new entry; the cache's answer equals a fetch without it
# (test/e2e/bazel-repo-cache.test.ts, which uses caches of its own, as do the files whose subject is what a fetch runs:
# bazel-native-addon's compile at fetch time). Entries unused longest go first past PIPELINE_REPO_CACHE_MAX_SIZE (6 GiB
# here). It lives inside Bazel 7's output user root, which scripts/bazel7.sh bind-mounts into the chroot as one mount:
# an entry is restored there as hard links, as on the host, where a cache mounted of its own would be copied (EXDEV;
# ~130 MB for the rules' npm tree). PIPELINE_TEST_REPO_CACHE=run gives the run a cache of its own, removed at exit
# (every repository fetched for real once per run); PIPELINE_REPO_CACHE set beforehand is used as it is.
if [[ -z "${PIPELINE_REPO_CACHE:-}" ]]; then
  mkdir -p "$bazel7_output_root"
  if [[ "${PIPELINE_TEST_REPO_CACHE:-}" == run ]]; then
    PIPELINE_REPO_CACHE="$(mktemp -d "$bazel7_output_root/test-run-repo-cache.XXXXXX")"
    run_repo_cache="$PIPELINE_REPO_CACHE"
  else
    PIPELINE_REPO_CACHE="$bazel7_output_root/test-repo-cache"
    mkdir -p "$PIPELINE_REPO_CACHE"
  fi
  export PIPELINE_REPO_CACHE PIPELINE_REPO_CACHE_MAX_SIZE="${PIPELINE_REPO_CACHE_MAX_SIZE:-6GiB}"
fi

# One --disk_cache for the consumer workspaces of the e2e files (test/fixtures/bazel.ts: TEST_DISK_CACHE; files whose
# subject is how actions run opt out), kept from run to run as a developer's is, so the rules' tool actions and the
# examples' actions run once, and again only when their inputs change (an action key is its command line and the
# digests of its inputs: the rules' sources among them). test/e2e/bench-smoke.test.ts runs the bench without it: the
# bench measures builds. Bazel 4.2.3 never prunes a disk cache: entries not written for 7 days go at the start of a
# run, and the whole cache when it still holds more than 4 GiB. PIPELINE_TEST_DISK_CACHE set beforehand is used as is.
if [[ -z "${PIPELINE_TEST_DISK_CACHE:-}" ]]; then
  PIPELINE_TEST_DISK_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/rules_pipeline/test-disk-cache"
  if [[ -d "$PIPELINE_TEST_DISK_CACHE" ]]; then
    find "$PIPELINE_TEST_DISK_CACHE" -type f -mmin +$((7 * 24 * 60)) -delete 2>/dev/null || true
    if (($(du -sk "$PIPELINE_TEST_DISK_CACHE" | cut -f1) > 4 * 1024 * 1024)); then rm -rf "$PIPELINE_TEST_DISK_CACHE"; fi
  fi
fi
export PIPELINE_TEST_DISK_CACHE
mkdir -p "$PIPELINE_TEST_DISK_CACHE"

# The consumer workspaces whose Bazel servers outlive a test file (test/fixtures/workspace-pool.ts): the e2e files
# that need only the default workspace borrow one, one file at a time, instead of each starting a server of its own.
# Their servers are stopped and their output bases removed after the tests (before the leak check below).
export PIPELINE_TEST_WORKSPACE_POOL="$report/workspaces"

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  # The JIT and GC of the run's ~60 short-lived Bazel servers (4.2.3's through JAVA_TOOL_OPTIONS below, 7.7.1's as
  # --host_jvm_args, scripts/bazel7.sh): C2 only for the hottest methods and the serial collector. A server's JVM
  # otherwise spends much of its CPU on C2 compiles and G1's threads that a build of seconds never pays back.
  # Measured here, a new server doing a build and 6 incremental builds (examples/hello, warm disk cache): 12.0 → 9.8 s
  # of server CPU (3 runs each, interleaved), wall 9.6 → 8.9 s; 24 incremental builds: 17.5 → 14.6 s; Bazel 7.7.1,
  # 7 builds of 200 genrules: 12.7 → 10.7 s. What Bazel does is the same: only how the JVM runs it.
  # 2026-11-27: C2's thresholds five times those (its loop threshold, 40000 by default, ten times), a new Bazel 4
  # server building examples/hello (warm disk cache) then 3 incremental builds: 11.3 → 10.6 s (4 runs each,
  # interleaved); then 15: 14.6 → 13.0 s, wall 12.9 → 11.9 s (2 each). Twenty times: the first build cheaper, 15 builds
  # no cheaper and 1.5 s slower. C1 only (TieredStopAtLevel 1, 2 or 3): 2.4x to 30x the CPU, on JDK 17 here.
  BAZEL_JVM_ARGS="-XX:+UseSerialGC -XX:Tier4InvocationThreshold=200000 -XX:Tier4MinInvocationThreshold=100000 -XX:Tier4CompileThreshold=225000 -XX:Tier4BackEdgeThreshold=400000"
  export PIPELINE_BAZEL7_JVM_ARGS="${PIPELINE_BAZEL7_JVM_ARGS-$BAZEL_JVM_ARGS}"
  # Bazel 7.7.1 for the e2e tests that run it: a Debian sid chroot made once (~4 min cold, ~2 GB) and cached outside
  # the repository ($PIPELINE_BAZEL7_ROOT, default ~/.cache/rules_pipeline/bazel7); a machine that has it only checks.
  # Each Bazel 7 test calls `scripts/bazel7.sh setup` first, which waits on this setup's lock.
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo -E"
  background "set-up: Bazel 7.7.1 chroot" 0 "$report/bazel7-setup.status" $SUDO bash scripts/bazel7.sh setup
  # The tool binaries of the real rules_js/rules_ts/rules_oci kit (shared/peers beside the checkout, or
  # $PIPELINE_PEERS_DIR) for test/e2e/bazel7-rules-js.test.ts: built once (~3 min cold: Go from the module proxy, sid
  # packages) into ~/.cache/peers-tools; the test runs tools.sh again, which waits on this one's lock.
  peers="${PIPELINE_PEERS_DIR:-$PWD/../shared/peers}"
  if [[ -f "$peers/tools.sh" ]]; then
    background "set-up: rules_js/rules_oci kit tools" 0 "$report/peers-tools.status" env "${GO_BUILD_ENV[@]}" bash "$peers/tools.sh"
  else
    echo "== the rules_js/rules_oci kit is not at $peers: its tests will fail; set PIPELINE_PEERS_DIR to shared/peers" >&2
  fi
  # The Kubernetes server binaries for the e2e-cluster project: built once from Go modules and cached outside the
  # repository (scripts/k8s-cluster.sh build; ~/.cache/rules_pipeline/k8s-VERSION). Those files, beside the pool, wait
  # for $PIPELINE_K8S_BUILD_STATUS (test/fixtures/k8s-cluster.ts). The Go build (~6 CPU-minutes cold) runs at a
  # lower priority than the tests, but not the lowest, so that on a new machine it ends before the pool does.
  export PIPELINE_K8S_BUILD_STATUS="$report/k8s-build.status"
  background "set-up: Kubernetes binaries" 10 "$PIPELINE_K8S_BUILD_STATUS" bash scripts/k8s-cluster.sh build
  # The admission engines those files run as the cluster's webhooks (test/e2e/k8s-real-admission.test.ts): sigstore
  # policy-controller's webhook and Kyverno's admission controller from their Go modules, cached the same way
  # (scripts/admission-engine.sh build all; ~4 CPU-minutes and ~20 wall-minutes cold), waited for through
  # $PIPELINE_ADMISSION_BUILD_STATUS.
  export PIPELINE_ADMISSION_BUILD_STATUS="$report/admission-build.status"
  background "set-up: admission engines" 10 "$PIPELINE_ADMISSION_BUILD_STATUS" bash scripts/admission-engine.sh build all
  # The S3 server of the object-store files (test/e2e/s3-store.test.ts): versitygw from its Go module, cached the same
  # way (scripts/s3-server.sh build; ~100 CPU-s cold), waited for through $PIPELINE_S3_BUILD_STATUS
  # (test/fixtures/s3-server.ts).
  export PIPELINE_S3_BUILD_STATUS="$report/s3-build.status"
  background "set-up: S3 server" 10 "$PIPELINE_S3_BUILD_STATUS" bash scripts/s3-server.sh build
  # The Bazel 4 servers of the run (~40) map one class-data-sharing archive of Bazel's server classes instead of each
  # loading them (scripts/bazel-cds.sh: -0.85 s of wall and -1.6 s of CPU per new server, measured): made once per
  # machine (~7 s) in the background; a server that starts before it is ready starts without it. Bazel 7
  # runs in its chroot with a cleared environment and is not affected.
  if [[ -z "${JAVA_TOOL_OPTIONS:-}" ]] && command -v java >/dev/null 2>&1; then
    background "set-up: Bazel server class archive" 0 "$report/bazel-cds.status" bash scripts/bazel-cds.sh make
    JAVA_TOOL_OPTIONS="-XX:SharedArchiveFile=$(bash scripts/bazel-cds.sh path) $BAZEL_JVM_ARGS"
    export JAVA_TOOL_OPTIONS
  fi
fi

# checks [in_group]: the typecheck and the format and lint check, one after the other, each in a process group of its
# own when given `in_group`; fails if any of them failed (each runs: inside `checks || ...` set -e does not apply, so
# every status is kept explicitly).
checks() {
  local rc=0
  echo "== typecheck" >&2
  # tsconfig.test.json extends tsconfig.json, includes its files, the tests and the bench, and adds noUnusedLocals: what
  # the product's own check (`npm run typecheck`) and the bench's build (`npm run bench`) would report, it reports too,
  # in one program (16 -> 11 s here; bench-smoke then builds the bench with --noCheck).
  phase typecheck "$@" npx tsc -p tsconfig.test.json || rc=1
  # The plain JavaScript that runs before anything is built (bootstrap/*.js, checkJs): a program of its own, as in
  # `npm run typecheck`.
  phase "typecheck: bootstrap" "$@" npx tsc -p bootstrap/tsconfig.json || rc=1
  echo "== format and lint (biome ci; npm run format fixes what it can)" >&2
  phase lint "$@" npx biome ci . || rc=1
  return "$rc"
}
checks_pid=""
if [[ -n "${PIPELINE_TEST_FAST:-}" ]]; then
  checks in_group
else
  # In a full run they go beside the test pool instead of before it: ~18 s of one core (tsc is single-threaded) the
  # pool would otherwise wait for, with the other core mostly idle. Their output is printed when they end; a failure
  # fails the run as before, only later. One process group for all of them (cleanup() stops it).
  set -m
  (checks || { echo "== the checks FAILED (above): the run fails" >&2; exit 1; }) >"$report/checks.log" 2>&1 &
  checks_pid=$!
  set +m
  RUN_GROUPS+=("$checks_pid")
fi

# From here on, every Bazel output base a test or the bench makes must go with its temporary workspace (checked below).
touch "$report/started"

# vitest REPORT ARGS...: one vitest run, its JSON report in $report/REPORT.json. --passWithNoTests: a file filter
# given to `npm test -- FILTER` may match only some projects' files.
vitest() {
  local name="$1"
  shift
  npx vitest run --passWithNoTests --reporter=default --reporter=json --outputFile="$report/$name.json" "$@"
}

status=0
# The unit files run without isolation (--no-isolate: one worker process runs file after file instead of a new process
# and module graph per file, ~40 of their ~250 core-seconds; test/fixtures/unit-file-state.ts resets what a file could
# leave for the next). vitest decides that for a whole run, and a run whose files are not isolated runs one project
# after the other, so the unit files are a vitest run of their own.
if [[ -n "${PIPELINE_TEST_FAST:-}" ]]; then
  phase unit in_group vitest tests --project unit --maxWorkers=2 --minWorkers=1 --no-isolate "$@" || status=$?
else
  # The real-cluster files, one at a time, beside the pool below (they mostly wait for pods), on one cluster that their
  # project's global set-up starts once the Kubernetes build is done and stops after the last of them
  # (test/fixtures/k8s-cluster-setup.ts). Their output is printed when both are done.
  set -m # a process group of its own, so that cleanup() stops all of it
  (phase "e2e (cluster)" vitest e2e-cluster --project e2e-cluster --no-file-parallelism "$@") >"$report/cluster.log" 2>&1 &
  cluster=$!
  set +m
  RUN_GROUPS+=("$cluster")
  # The unit files, one worker beside the pool (above: why a run of their own), printed when the pool ends.
  set -m
  (phase unit vitest unit --project unit --maxWorkers=1 --minWorkers=1 --no-isolate "$@") >"$report/unit.log" 2>&1 &
  unit=$!
  set +m
  RUN_GROUPS+=("$unit")
  # One pool for the e2e files, the longest first, the short ones filling in: one file more than the machine has
  # cores, because e2e files also wait (for a registry, npm, a container, a Bazel server's start) and two at a time
  # left a core idle ~7% of a run here.
  echo "== e2e tests ($workers at a time; the unit files and the real-cluster files run beside them, printed at the end)" >&2
  phase e2e in_group vitest tests --project e2e --maxWorkers="$workers" --minWorkers=1 "$@" || status=$?
  unit_status=0
  wait "$unit" || unit_status=$?
  echo "== unit tests (ran beside the pool; exit $unit_status)" >&2
  cat "$report/unit.log"
  ((unit_status == 0)) || status=$unit_status
  checks_status=0
  wait "$checks_pid" || checks_status=$?
  echo "== typecheck, format and lint (ran beside the pool; exit $checks_status)" >&2
  cat "$report/checks.log" >&2
  ((checks_status == 0)) || status=$checks_status
  cluster_status=0
  wait "$cluster" || cluster_status=$?
  echo "== e2e tests on a real Kubernetes cluster (ran beside the others; exit $cluster_status)" >&2
  cat "$report/cluster.log"
  ((cluster_status == 0)) || status=$cluster_status
fi

if [[ -z "${PIPELINE_TEST_FAST:-}" ]]; then
  BAZEL_WORKSPACES_UNDER="$(realpath -m "$PIPELINE_TEST_WORKSPACE_POOL")" stop_bazel_servers "$report/started" "${bazel_roots[@]}" 2>/dev/null
  rm -rf "$PIPELINE_TEST_WORKSPACE_POOL"
  # Bazel keeps an output base (~150 MB here) per workspace path until someone deletes it, and a temporary workspace's
  # path never comes back: one started during this run whose workspace is gone is a leak (test/fixtures/bazel.ts
  # discard() removes them).
  leaked=0
  for root in "${bazel_roots[@]}"; do
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

# Where the time went, then the plain closing line CI reads ("N passed, N failed" over every project that ran).
runs=(tests)
[[ -n "${PIPELINE_TEST_FAST:-}" ]] || runs+=(unit e2e-cluster)
head -n 1 /proc/stat >"$report/cpu-end"
node scripts/lib/test-report.js "$run_start" "$phases" "$report" "${runs[@]}" || true
exit "$status"
