/**
 * The variables that cross the Bazel <-> Node boundary: set by the rules' launchers or by our own programs for the
 * processes they start, never by users (diagnostic switches of the workers at the end).
 */
import type { EnvVarDoc } from "./entry";

export const INTERNAL_VARIABLES = {
  PIPELINE_RUNFILES_DIR: {
    setBy: "every launcher (`bazel/private/pipeline/launcher.bzl`, `write_launcher`)",
    readBy: "`src/launch/runfiles.ts`",
    format: "an absolute directory path (the target's runfiles)",
    meaning: "Where the launcher's runfiles are, so Node finds the built files whatever the working directory.",
  },
  PIPELINE_LAUNCH_CONFIG: {
    setBy: "the `_local`, `_binary` and NAME launchers (`bazel/private/pipeline/launch.bzl`)",
    readBy: "`tools/preload.ts` (through `src/launch/env.ts`)",
    format: "a file path (the launch config JSON, `src/launch/config.ts` checks it)",
    meaning: "The launch config the preload reads to set the image variables; removed before the launch script runs.",
  },
  PIPELINE_CLI_NODE: {
    setBy: "every launcher (`bazel/private/pipeline/launcher.bzl`)",
    readBy: "`src/runtime/index.ts` (runInContainer, runOnKubernetes), the launcher itself",
    format: "an absolute path to a node binary",
    meaning: "The Node the CLI runs with.",
  },
  PIPELINE_CLI: {
    setBy: "every launcher (`bazel/private/pipeline/launcher.bzl`)",
    readBy: "`src/runtime/index.ts`, the launcher itself",
    format: "an absolute path (the CLI's bundle)",
    meaning: "The CLI a launch script's runInContainer and runOnKubernetes start.",
  },
  PIPELINE_CLI_LOADER: {
    setBy: "every launcher (`bazel/private/pipeline/launcher.bzl`)",
    readBy: "`src/runtime/index.ts`, the launcher itself",
    format: "an absolute path (`tools/bundle-loader.ts`'s bundle)",
    meaning: "Runs the CLI's bundle with the V8 code cache.",
  },
  PIPELINE_CLI_NODE_MODULES: {
    setBy: "every launcher (`bazel/private/pipeline/launcher.bzl`)",
    readBy: "`src/runtime/index.ts` (handed on as PIPELINE_TOOLS_NODE_MODULES)",
    format: "an absolute directory path",
    meaning: "The npm packages the CLI loads lazily, for CLIs a launch script starts.",
  },
  PIPELINE_TOOLS_NODE_MODULES: {
    setBy:
      "the CLI launchers (`bazel/private/pipeline/cli_binary.bzl`, `bazel/private/pipeline/launcher.bzl`), `bazel/private/repositories/repository_cli.bzl`, `src/runtime/index.ts`",
    readBy: "`tools/pipeline.ts` (then removed from the environment)",
    format: "an absolute directory path",
    meaning: "The directory of the npm packages the CLI loads lazily (the AWS SDK, the Kubernetes client).",
  },
  PIPELINE_BUNDLE_CODE_CACHE: {
    setBy:
      "the CLI's loaders (`tools/pipeline-loader.ts`, the npm package's `pipeline`; `tools/bundle-loader.ts`, the launchers')",
    readBy: "`src/cli/lazy-bundle.ts` (then removed from the environment)",
    format: "1, or unset",
    meaning:
      "Load the CLI bundle's second file (the commands) with the V8 code cache; build actions run the bundle without it.",
  },
  PIPELINE_NODE_EXTRA_CA_CERTS: {
    setBy:
      "the push and run launchers (`bazel run //pkg:NAME_push` and `bazel run //pkg:NAME`, bazel/private/pipeline/launcher.bzl), when their Node is older than 22 and `NODE_EXTRA_CA_CERTS` names the file `SSL_CERT_FILE` names",
    readBy: "`tools/bundle-loader.ts`, which puts it back as `NODE_EXTRA_CA_CERTS` (then removed from the environment)",
    format: "the path `NODE_EXTRA_CA_CERTS` held",
    meaning:
      "The user's `NODE_EXTRA_CA_CERTS`, kept aside while the CLI's Node starts with `--use-openssl-ca` (Node before 22 builds its whole CA store at start when the variable is set); the programs the CLI starts (credential helpers, `bazel run //pkg:NAME`'s launch script) see it again.",
  },
  PIPELINE_CONTAINER_IMAGE: {
    setBy:
      "the `_binary` and NAME launchers' preload (`tools/preload.ts`, through `src/runtime/index.ts`'s `imageEnvironment`)",
    readBy: "launch scripts through `src/runtime/index.ts` (`containerImage()`)",
    format: "an image reference HOST/REPOSITORY@sha256:... (`_binary`: the configured reference)",
    meaning: "The pipeline's main image.",
  },
  PIPELINE_CONTAINER_IMAGE_URIS: {
    setBy: "the `_binary` and NAME launchers' preload (`tools/preload.ts`)",
    readBy: "launch scripts through `src/runtime/index.ts`; `src/launch/env.ts` checks it",
    format: 'a JSON object: image name -> reference ({"default": "HOST/REPO@sha256:..."})',
    meaning: "Every image of the pipeline by name (`bases`), the main one as default.",
  },
  PIPELINE_CONTAINER_IMAGE_LAYOUTS: {
    setBy: "the `_binary` launchers' preload (`tools/preload.ts`)",
    readBy: "`src/runtime/index.ts` (runInContainer runs the image from its layout)",
    format: "a JSON object: image name -> OCI layout directory",
    meaning: "Where the built (not pushed) images are, for `_binary` runs.",
  },
  PIPELINE_IN_CONTAINER: {
    setBy:
      "the local runner (`src/container/process-spec.ts`), the Kubernetes runner (`src/k8s/run-job.ts`), runInContainer",
    readBy: "launch scripts through `src/runtime/index.ts` (`inContainer()`)",
    format: "1, or unset",
    meaning: "The launch script is running inside its own container: it does the work instead of starting a container.",
  },
  PIPELINE_MAP_STORE: {
    setBy: "`pipeline map` for the map worker it starts in a container or an Indexed Job's pod (`src/map/`)",
    readBy: "the map worker inside the image (`src/runtime/map-worker.ts`)",
    format: "an absolute directory (mounted into the container), or s3://BUCKET/PREFIX",
    meaning: "Where a map's items, plan and results are stored.",
  },
  PIPELINE_MAP_PLAN: {
    setBy: "`pipeline map` (`src/map/`)",
    readBy: "the map worker (`src/runtime/map-worker.ts`)",
    format: "a sha256 hex digest: the plan's blob in the store",
    meaning: "The map's plan: the task, the items and how they are cut into indexes.",
  },
  PIPELINE_MAP_INDEX: {
    setBy:
      "`pipeline map` for containers (`src/map/`); on Kubernetes the Job controller sets JOB_COMPLETION_INDEX instead",
    readBy: "the map worker (`src/runtime/map-worker.ts`)",
    format: "a whole number from 0",
    meaning: "Which index (chunk of items) of the plan this worker runs.",
  },
  PIPELINE_MAP_APP_ROOT: {
    setBy: "whoever runs the map worker outside an image (tests)",
    readBy: "the map worker (`src/runtime/map-worker.ts`)",
    format: "an absolute directory",
    meaning: "Where the task modules' paths start; default: the app root the worker's file sits in (`/app` in images).",
  },
  PIPELINE_MAP_JOB: {
    setBy: "`pipeline run --on kubernetes` in its pod (`src/k8s/map-job.ts`, withMapTemplate)",
    readBy: "runMap inside the pod (`src/runtime/map-cluster.ts`)",
    format: "a batch/v1 Job as JSON, with a generateName",
    meaning:
      "The Job a map from inside the pod is made from: the run's image by digest and pod settings, the map worker as its command.",
  },
  PIPELINE_POD_NAME: {
    setBy: "`pipeline run --on kubernetes` in its pod, from the downward API (`src/k8s/map-job.ts`)",
    readBy: "runMap inside the pod (`src/runtime/map-in-image.ts`)",
    format: "a pod name",
    meaning: "The pod's own name: the owner (ownerReferences) of the maps' Jobs it makes.",
  },
  PIPELINE_POD_UID: {
    setBy: "`pipeline run --on kubernetes` in its pod, from the downward API (`src/k8s/map-job.ts`)",
    readBy: "runMap inside the pod (`src/runtime/map-in-image.ts`)",
    format: "a uid",
    meaning: "The pod's own uid, with PIPELINE_POD_NAME.",
  },
  PIPELINE_MODELS: {
    setBy: "the local runner for host runs (`src/container/deployment.ts`)",
    readBy: "the user's program",
    format: "a JSON object: container path -> host directory",
    meaning: "Where the spec's models are, when a host run cannot mount them at their paths.",
  },
  PIPELINE_REPOSITORIES: {
    setBy: "the local runner for host runs (`src/container/deployment.ts`)",
    readBy: "the user's program",
    format: "a directory path (one checkout per repository name)",
    meaning: "Where the spec's git repositories are, when a host run cannot mount them at mountPath.",
  },
  PIPELINE_GIT_AUTH_DIR: {
    setBy: "`src/git/auth.ts` (for git and its children)",
    readBy: "`src/git/auth-dirs.ts` (finds the processes still using a credential dir before removing it)",
    format: "a directory path",
    meaning: "Marks git processes with the private directory holding their credential.",
  },
  PIPELINE_TSC_RESIDENTS: {
    setBy: "users who tune the compile worker, with `--action_env` or `--worker_extra_flag`",
    readBy: "`src/tsc/resident.ts` (the TsCompile runner's TypeScript 7 compiles)",
    format: "a whole number (default 4; 0 turns them off)",
    meaning:
      "How many resident TypeScript 7 compilers (`tsc --watch`, one per target) a worker keeps; the least recently used is stopped first.",
  },
  PIPELINE_TSC_RESIDENT_BOUND_MS: {
    setBy: "tests, in the environment of the TsCompile runner run directly",
    readBy: "`src/tsc/resident.ts`",
    format: "milliseconds (default 10 times the compiler's first build, at least 20,000)",
    meaning:
      "How long a resident TypeScript 7 compiler may take to answer a request before it is stopped and the request compiled one-shot.",
  },
  PIPELINE_TSC_WORKER_MAX_HEAP_MB: {
    setBy: "users who tune the compile worker, with `--action_env` or `--worker_extra_flag`",
    readBy: "`src/tsc/program-cache.ts` (the TsCompile runner)",
    format: "a whole number of MB (default 1536)",
    meaning: "The heap above which the persistent tsc worker evicts its least recently used targets.",
  },
  PIPELINE_TSC_WORKER_STATS: {
    setBy:
      "tests, in the environment of the TsCompile runner run directly (Bazel's TsCompile actions and workers get no `--action_env`)",
    readBy: "`src/tsc/worker.ts` (the TsCompile runner)",
    format: "1, or unset",
    meaning:
      "The tsc worker reports its targets in memory and heap after each request; a one-shot compile started from the compiler snapshot (`--@rules_pipeline//bazel:tsc_snapshot`), what it took from it.",
  },
  PIPELINE_CLI_WORKER_STATS: {
    setBy: "developers, with `--action_env`",
    readBy: "`src/cli/worker.ts`",
    format: "1, or unset",
    meaning: "The CLI's persistent worker reports its statistics after each request.",
  },
} satisfies Record<`PIPELINE_${string}`, EnvVarDoc>;
