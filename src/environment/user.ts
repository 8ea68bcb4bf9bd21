/** The variables users set: settings of the rules, the CLI and launch scripts. */
import type { EnvVarDoc } from "./entry";

export const USER_VARIABLES = {
  PIPELINE_REPOSITORY: {
    setBy: "users, in the shell of `bazel run //pkg:NAME` or `NAME_push` (`scripts/demo.sh` too)",
    readBy: "`src/transfer/target.ts` (`pushTarget`)",
    format: "HOST/REPOSITORY, no tag or digest (e.g. localhost:5000/team/app)",
    meaning:
      "Pushes every image of the pipeline there instead of the BUILD file's registry/repository; `--repository` wins.",
  },
  PIPELINE_TARGET: {
    setBy:
      "users, in the shell of `bazel run //pkg:NAME`; `pipeline run --on kubernetes` sets kubernetes in its pod unless its env does (`src/k8s/map-job.ts`)",
    readBy:
      "launch scripts through `src/runtime/index.ts` (`launchTarget()`); `pipeline map` (its default --on); runMap inside a pod (`src/runtime/map-in-image.ts`)",
    format: "inprocess, container or kubernetes",
    meaning:
      "Where a launch script runs its pipeline, and where its maps run; inside a pod, kubernetes makes runMap's calls Indexed Jobs of the pod's cluster.",
  },
  PIPELINE_ARTIFACTS: {
    setBy: "users (in the shell, or in a run's env: `pipeline run --on kubernetes --env`)",
    readBy: "`pipeline map` (its default --artifacts) and runMap inside an image (`src/runtime/map-in-image.ts`)",
    format: "an absolute directory, or s3://BUCKET/PREFIX",
    meaning:
      "Where maps keep their items and results when no --artifacts / `artifacts` option says (S3 on kubernetes).",
  },
  PIPELINE_CACHE_DIR: {
    setBy: "users",
    readBy:
      "`src/cache/layout.ts` (the CLI and the launchers); `bazel/private/repositories/repo_cache.bzl` documents why repositories do not follow it",
    format: "a directory path",
    meaning:
      "The local cache root (images, root filesystems, models, the CLI's code cache); default $XDG_CACHE_HOME/rules_pipeline or ~/.cache/rules_pipeline.",
  },
  PIPELINE_CODE_CACHE: {
    setBy: "users",
    readBy: "`src/cli/code-cache.ts`",
    format: "off, or unset",
    meaning: "off turns the CLI's V8 code cache off.",
  },
  PIPELINE_PUSH_DAEMON: {
    setBy: "users (the test suite sets 0: vitest.config.ts)",
    readBy: "the push launcher (`bazel/private/pipeline/push_client.sh`) and `src/cli/push-daemon/start.ts`",
    format: "0, 1, or unset",
    meaning:
      "0: `bazel run //pkg:NAME_push` neither uses nor starts the resident push daemon (docs/bazel.md#the-push-daemon); every push starts its own Node. 1: a push starts one in a CI job too ($CI set), where unset starts none.",
  },
  PIPELINE_PUSH_DAEMON_IDLE_SECONDS: {
    setBy: "users",
    readBy: "`pipeline push-daemon` (`src/cli/commands/push-daemon.ts`)",
    format: "a positive number of seconds",
    meaning: "How long the push daemon waits for a push before it ends; default 1800.",
  },
  PIPELINE_CREDENTIALS_FILE: {
    setBy: "users",
    readBy: "`src/credentials/config.ts`",
    format: "a file path",
    meaning: "rules_pipeline's own credentials file; default $XDG_CONFIG_HOME/rules_pipeline/credentials.yaml.",
  },
  PIPELINE_SECRETS_DIR: {
    setBy: "users",
    readBy: "`src/deploy/secrets.ts`",
    format: "a directory path",
    meaning: "Where named secrets (SECRET:name in a spec) are files; default ~/.config/rules_pipeline/secrets.",
  },
  "PIPELINE_SECRET_<NAME>": {
    setBy: "users (one variable a secret: NAME is the secret's name upper-cased, other characters '_')",
    readBy: "`src/deploy/secrets.ts`; `src/container/repositories.ts` removes them from git's environment",
    format: "the secret's value",
    meaning: "A named secret given in the environment instead of a file of $PIPELINE_SECRETS_DIR.",
  },
  PIPELINE_ALLOW_HOST_PATHS: {
    setBy: "users",
    readBy: "`src/container/host-folders.ts`",
    format: "absolute paths separated by ':'",
    meaning:
      "Host folders a spec's ServerAvailableFolder may name, besides the spec's own directory (like --allow-host-path).",
  },
  PIPELINE_REQUIRE_SIGNATURE: {
    setBy: "users",
    readBy: "`src/sign/policy.ts`",
    format: "a PEM public key file (cosign.pub)",
    meaning: "Run or deploy only an image whose signature verifies with this key (like --require-signature).",
  },
  PIPELINE_SIGN_KEY: {
    setBy: "users, in the shell of `bazel run //pkg:NAME_push`",
    readBy: "`src/cli/commands/bazel-push.ts`",
    format: "a cosign private key file",
    meaning: "Signs pushed images (and their provenance) with this key instead of the `sign_key` attribute's.",
  },
  PIPELINE_SIGN_PASSWORD_FILE: {
    setBy: "users",
    readBy: "`src/sign/cosign-key.ts`",
    format: "a file holding the key's password",
    meaning: "The signing key's password, when $COSIGN_PASSWORD is not set (like --sign-password-file).",
  },
  PIPELINE_METADATA_OUT: {
    setBy: "users, in the shell of `bazel run //pkg:NAME_push`",
    readBy: "`src/cli/commands/bazel-push.ts`",
    format: "a file path",
    meaning: "Where the push writes its metadata JSON (reference, digest, tags, registry), like --metadata-out.",
  },
  PIPELINE_MIN_TRANSFER_RATE: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a rate such as 64KiB/s; 0 turns the check off",
    meaning:
      "The slowest a registry (or the Bazel remote cache a push reads layers from) may send or take a blob (default 1KiB/s over the window), like --min-transfer-rate; pushes read it too.",
  },
  PIPELINE_TRANSFER_RATE_WINDOW: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a duration such as 30s",
    meaning: "The window over which the minimum transfer rate is measured.",
  },
  PIPELINE_RESPONSE_HEADERS_TIMEOUT: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a duration such as 60s",
    meaning: "How long a registry's response headers may take to arrive once it has started answering (default 60s).",
  },
  PIPELINE_MAX_UNPACKED_SIZE: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a size such as 40GiB",
    meaning: "The most uncompressed bytes of an image's layers (default 20GiB), like --max-unpacked-size.",
  },
  PIPELINE_MAX_LAYER_RATIO: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a number",
    meaning: "The most a layer may expand over its compressed size (default 100), like --max-layer-ratio.",
  },
  PIPELINE_MAX_LAYER_ENTRIES: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a whole number",
    meaning: "The most tar entries in one layer (default 200000), like --max-layer-entries.",
  },
  PIPELINE_MAX_IMAGE_ENTRIES: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a whole number",
    meaning: "The most tar entries in an image's layers together (default 300000), like --max-image-entries.",
  },
  PIPELINE_MAX_TAR_METADATA: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`",
    format: "a size such as 512MiB",
    meaning: "The most PAX and GNU long-name header data in one layer (default 256MiB); no flag.",
  },
  PIPELINE_MIN_FREE_SPACE: {
    setBy: "users",
    readBy: "`src/layer/limits.ts`, `src/cli/commands/pull.ts`",
    format: "a size such as 5GiB",
    meaning: "Free space to leave on the disk when unpacking (default 1GiB), like --min-free-space.",
  },
  PIPELINE_NODE: {
    setBy: "users, with `--repo_env=PIPELINE_NODE=/path/to/node`",
    readBy: "`bazel/private/repositories/node_repo.bzl` (at fetch time)",
    format: "an absolute path to a node binary",
    meaning: "The Node the rules' actions and launchers use when no `node` label or `node_path` is given.",
  },
  PIPELINE_BASE_MIRROR: {
    setBy: "users, with `--repo_env=PIPELINE_BASE_MIRROR=HOST[:PORT]`",
    readBy: "`bazel/private/repositories/repository_cli.bzl` (base image repositories, at fetch time)",
    format: "a registry host[:port]",
    meaning: "Pulls base images from this mirror or pull-through cache instead of their registry (like `mirror`).",
  },
  PIPELINE_REPO_CACHE: {
    setBy: "users, with `--repo_env` (`scripts/test.sh` sets one per test run)",
    readBy: "`bazel/private/repositories/repo_cache.bzl`",
    format: "an absolute directory path, or off",
    meaning:
      "The repository cache `npm_repo.bzl` and `tools_repo.bzl` share across output bases; off rebuilds each time.",
  },
  PIPELINE_REPO_CACHE_MAX_SIZE: {
    setBy: "users, with `--repo_env`",
    readBy: "`bazel/private/repositories/repo_cache.bzl`, `bootstrap/repo_cache.js`",
    format: "a size such as 10GiB; 0: no limit",
    meaning: "The repository cache is kept under this size by removing the least recently used entries.",
  },
} satisfies Record<`PIPELINE_${string}`, EnvVarDoc>;
