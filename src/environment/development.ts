/** The variables of the development scripts and the tests: never read by the rules, the CLI or the runtime. */
import type { EnvVarDoc } from "./entry";

export const DEVELOPMENT_VARIABLES = {
  PIPELINE_BAZEL7_ROOT: {
    setBy: "developers",
    readBy: "`scripts/bazel7.sh`, `test/fixtures/`",
    format: "a directory path (default ~/.cache/rules_pipeline/bazel7)",
    meaning: "Where the Debian sid chroot with Bazel 7.7.1 is.",
  },
  PIPELINE_BAZEL7_MIRROR: {
    setBy: "developers",
    readBy: "`scripts/lib/setup-steps.sh`",
    format: "a Debian mirror URL",
    meaning: "The mirror the Bazel 7 chroot is bootstrapped from (older name of PIPELINE_DEBIAN_MIRROR).",
  },
  PIPELINE_BAZEL7_MOUNTS: {
    setBy: "tests (`test/fixtures/`), developers",
    readBy: "`scripts/bazel7.sh`",
    format: "host paths separated by ':'",
    meaning: "Extra host directories bind-mounted into the Bazel 7 chroot.",
  },
  PIPELINE_BAZEL7_ENV: {
    setBy: "tests (`test/fixtures/`), developers",
    readBy: "`scripts/bazel7.sh`",
    format: "variable names separated by spaces",
    meaning: "Variables of the caller's environment handed into the chroot.",
  },
  PIPELINE_BAZEL7_JVM_ARGS: {
    setBy: "`scripts/test.sh`, developers",
    readBy: "`scripts/bazel7.sh`",
    format: "JVM options separated by spaces",
    meaning:
      "The Bazel 7 server's `--host_jvm_args` (`npm test` sets a JIT and GC for short-lived servers; empty: none).",
  },
  PIPELINE_BAZEL_CDS_DIR: {
    setBy: "developers",
    readBy: "`scripts/bazel-cds.sh`",
    format: "a directory path (default ~/.cache/rules_pipeline/bazel-cds)",
    meaning: "Where the class-data-sharing archive of Bazel 4's server classes that test runs map is kept.",
  },
  PIPELINE_BUILDOZER: {
    setBy: "tests, with `--repo_env`",
    readBy: "`scripts/bazel7.sh` (its buildozer stub module)",
    format: "a path to a buildozer binary",
    meaning: "The real buildozer behind the offline stub of `bazel mod tidy`.",
  },
  PIPELINE_DEBIAN_MIRROR: {
    setBy: "developers",
    readBy: "`scripts/lib/setup-steps.sh`",
    format: "a Debian mirror URL",
    meaning: "The Debian mirror the one-time set-ups use when /etc/apt names none.",
  },
  PIPELINE_SID_TOOLS: {
    setBy: "developers",
    readBy: "`scripts/sid-tools.sh`",
    format: "a directory path",
    meaning: "Where the tools unpacked from Debian sid (crane, cosign, kubectl, ...) are kept.",
  },
  PIPELINE_K8S_ROOT: {
    setBy: "developers, tests",
    readBy: "`scripts/k8s-cluster.sh`, `test/fixtures/`",
    format: "a directory path",
    meaning: "Where the Kubernetes server binaries and the test cluster's state are.",
  },
  PIPELINE_ADMISSION_ROOT: {
    setBy: "developers, tests",
    readBy: "`scripts/admission-engine.sh`",
    format: "a directory path",
    meaning:
      "The directory under which the admission engines built from Go modules are kept (`policy-controller-VERSION/`, `kyverno-VERSION/`; default `~/.cache/rules_pipeline`).",
  },
  PIPELINE_K8S_BUILD_STATUS: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/`",
    format: "a file path",
    meaning: "The status file of the background build of the Kubernetes binaries, which cluster tests wait for.",
  },
  PIPELINE_ADMISSION_BUILD_STATUS: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/e2e/k8s-real-admission.test.ts`",
    format: "a file path",
    meaning:
      "The status file of the background build of the admission engine (sigstore policy-controller), which the admission test on the cluster waits for.",
  },
  PIPELINE_S3_ROOT: {
    setBy: "developers, tests",
    readBy: "`scripts/s3-server.sh`",
    format: "a directory path",
    meaning: "Where the S3 server (versitygw) built from Go modules is kept.",
  },
  PIPELINE_S3_BUILD_STATUS: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/s3-server.ts`",
    format: "a file path",
    meaning:
      "The status file of the background build of the S3 server (versitygw), which the object-store tests wait for.",
  },
  PIPELINE_PEERS_DIR: {
    setBy: "developers",
    readBy: "`scripts/test.sh`, `test/e2e/bazel7-rules-js.test.ts`",
    format: "a directory path (default ../shared/peers)",
    meaning: "Where the pinned rules_js, rules_ts and rules_oci kit is.",
  },
  PIPELINE_REMOTE_CACHE_TOOLS: {
    setBy: "developers",
    readBy: "`scripts/remote-cache.sh`",
    format: "a directory path",
    meaning: "Where the local remote cache's tools and data are.",
  },
  PIPELINE_REMOTE_CACHE_MAX_BLOB: {
    setBy: "developers",
    readBy: "`scripts/remote-cache.sh`",
    format: "an nginx size such as 4g",
    meaning: "The largest blob the local remote cache accepts.",
  },
  PIPELINE_FUZZ_SEED: {
    setBy: "`scripts/fuzz-worker.sh`, developers",
    readBy: "the worker differential tests (`test/e2e/worker-differential.test.ts`)",
    format: "a whole number",
    meaning: "The seed of the worker fuzzing run, to replay one.",
  },
  PIPELINE_FUZZ_STEPS: {
    setBy: "`scripts/fuzz-worker.sh`",
    readBy: "the worker differential tests (`test/e2e/worker-differential.test.ts`)",
    format: "a whole number",
    meaning: "How many steps the worker fuzzing run takes.",
  },
  PIPELINE_TEST_FAST: {
    setBy: "`npm run test:quick`",
    readBy: "`scripts/test.sh`, some tests",
    format: "1, or unset",
    meaning: "Runs the unit tests only (after the typecheck and lint).",
  },
  PIPELINE_TEST_DISK_CACHE: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/`",
    format: "a directory path",
    meaning:
      "The Bazel disk cache the e2e tests share, kept between runs (default `~/.cache/rules_pipeline/test-disk-cache`; entries unwritten for 7 days go, and all of it past 4 GiB).",
  },
  PIPELINE_TEST_REPO_CACHE: {
    setBy: "developers",
    readBy: "`scripts/test.sh`",
    format: "run, or unset",
    meaning:
      "`run` gives the test run a repository cache of its own, removed at its end; unset, the runs share one kept between them (`test-repo-cache` in Bazel 7's output user root).",
  },
  PIPELINE_TEST_WORKSPACE_POOL: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/`",
    format: "a directory path",
    meaning:
      "Where the e2e files that need only the default consumer workspace borrow one whose Bazel server outlives a file, one file at a time (test/fixtures/workspace-pool.ts).",
  },
  PIPELINE_TEST_CPU_CGROUP: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/cpu-per-file.ts`",
    format: "a cgroup v1 cpuacct directory",
    meaning: "The run's cgroup, under which each test file gets its own so that the report can give its CPU time.",
  },
  PIPELINE_TEST_CPU_OUT: {
    setBy: "`scripts/test.sh`",
    readBy: "`test/fixtures/cpu-per-file.ts`, `scripts/lib/test-report.js`",
    format: "a file path",
    meaning: "Where each test file's CPU time is appended (one `SECONDS<TAB>FILE` line per file) for the report.",
  },
  PIPELINE_TEST_WORKERS: {
    setBy: "developers, CI",
    readBy: "`scripts/test.sh`",
    format: "a whole number ≥ 1 (default: the machine's cores + 1)",
    meaning: "How many unit and e2e files the pool runs at once (the real-cluster files run beside it, one at a time).",
  },
  PIPELINE_TEST_DURATIONS_OUT: {
    setBy: "developers",
    readBy: "`scripts/lib/test-report.js`",
    format: "a file path",
    meaning: "Where the test report writes each file's duration (the order of the next runs).",
  },
  PIPELINE_UPDATE_GENERATED: {
    setBy: "developers",
    readBy:
      "the tests of generated files (`test/unit/grammar-bzl.test.ts`, `test/unit/error-codes.test.ts`, `test/unit/environment.test.ts`)",
    format: "1, or unset",
    meaning:
      "Regenerates a generated file (grammar.bzl, environment.bzl, docs/errors.md, docs/environment.md) instead of failing on it.",
  },
} satisfies Record<`PIPELINE_${string}`, EnvVarDoc>;
