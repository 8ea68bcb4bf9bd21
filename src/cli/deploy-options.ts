/**
 * Option tables of `pipeline run` and `pipeline deploy`, apart from their handlers so the command table
 * (main.ts) can describe them without loading the commands (start-up time of every other command).
 */
import { DEFAULT_GIT_IMAGE, DEFAULT_ORAS_IMAGE } from "../k8s/default-images";
import type { LimitFlags } from "../layer/limits";
import type { OptionSpec } from "./args";

/** The slowest a registry may send a response while we read it (src/registry/transfer-rate.ts): everything that pulls. */
export const TRANSFER_RATE_OPTION = {
  "min-transfer-rate": {
    type: "string",
    describe:
      "slowest a registry may send a response (blob, manifest, listing, token) while we read it, e.g. 64KiB/s, 0 = unchecked (default 1KiB/s over 30s, $PIPELINE_MIN_TRANSFER_RATE)",
  },
} as const satisfies Record<string, OptionSpec>;

/** Limits on reading layers (src/layer/limits.ts): verify-image, and everything that unpacks. */
export const READ_LIMIT_OPTIONS = {
  "max-unpacked-size": {
    type: "string",
    describe: "most uncompressed bytes of an image's layers, e.g. 40GiB (default 20GiB, $PIPELINE_MAX_UNPACKED_SIZE)",
  },
  "max-layer-ratio": {
    type: "string",
    describe:
      "most a layer, or an image's layers together, may expand over their compressed size (default 100, $PIPELINE_MAX_LAYER_RATIO)",
  },
  "max-layer-entries": {
    type: "string",
    describe: "most tar entries in one layer (default 200000, $PIPELINE_MAX_LAYER_ENTRIES)",
  },
  "max-image-entries": {
    type: "string",
    describe: "most tar entries in an image's layers together (default 300000, $PIPELINE_MAX_IMAGE_ENTRIES)",
  },
  ...TRANSFER_RATE_OPTION,
} as const satisfies Record<Exclude<keyof LimitFlags, "min-free-space">, OptionSpec>;

/** Limits on unpacking layers: READ_LIMIT_OPTIONS and the free space to leave. */
export const UNPACK_LIMIT_OPTIONS = {
  ...READ_LIMIT_OPTIONS,
  "min-free-space": {
    type: "string",
    describe: "free space to leave on the disk when unpacking, e.g. 5GiB (default 1GiB, $PIPELINE_MIN_FREE_SPACE)",
  },
} as const satisfies Record<keyof LimitFlags, OptionSpec>;

export const RUN_OPTIONS = {
  "require-signature": {
    type: "string",
    describe:
      "PEM public key (cosign.pub): run only an image whose signature verifies with it, pinned to the verified digest (default $PIPELINE_REQUIRE_SIGNATURE)",
  },
  image: {
    type: "string",
    describe: "image to run: HOST/REPO@sha256:..., oci:DIR[@sha256:...]; with a spec, replaces the spec's image",
  },
  env: {
    type: "string",
    array: true,
    describe: "K=V added to the environment (K alone: this shell's value) (repeatable)",
  },
  mount: { type: "string", array: true, describe: "SRC:DST[:ro|:rw] bind mount, SRC on this machine (repeatable)" },
  "allow-host-path": {
    type: "string",
    array: true,
    describe:
      "a spec's ServerAvailableFolder may name this host folder and below, besides the spec's own directory (repeatable; also $PIPELINE_ALLOW_HOST_PATHS)",
  },
  workdir: { type: "string", describe: "--image: working directory in the container (default: the image's)" },
  entrypoint: { type: "string", describe: "--image: program replacing the image's entrypoint (ARGS follow it)" },
  // No `default:` on the local-only flags: `--on kubernetes` refuses them when given (run-kubernetes.ts).
  replicas: { type: "number", describe: "--image: containers to run at once (default 1)" },
  network: {
    type: "string",
    choices: ["host", "none"],
    describe: "host (default): the host's network (ports are the host's); none: loopback only",
  },
  runtime: {
    type: "string",
    choices: ["auto", "runc", "podman", "docker"],
    describe: "container runtime (default auto: runc, else podman, else docker)",
  },
  name: { type: "string", describe: "name in container ids and the hostname (default: the spec's name, or run)" },
  "stop-timeout": { type: "number", describe: "seconds between SIGTERM and SIGKILL when stopping (default 5)" },
  "cache-dir": {
    type: "string",
    describe:
      "cache of images, root filesystems and checkouts (default $PIPELINE_CACHE_DIR, else ~/.cache/rules_pipeline)",
  },
  rootfs: { type: "string", choices: ["auto", "overlay", "copy"], hidden: true },
  insecure: {
    type: "boolean",
    default: false,
    describe: "allow plain HTTP / unverified TLS to a non-loopback registry",
  },
  ...UNPACK_LIMIT_OPTIONS,
} as const satisfies Record<string, OptionSpec>;

export const DEPLOY_OPTIONS = {
  render: { type: "boolean", default: false, describe: "print the Kubernetes manifests (Secrets without data)" },
  image: { type: "string", describe: "HOST/REPO@sha256:... (or :TAG, resolved) replacing the spec's image" },
  apply: {
    type: "boolean",
    default: false,
    describe: "apply the manifests to the cluster (server-side apply) and wait for the rollout",
  },
  job: {
    type: "boolean",
    default: false,
    describe: "a pipeline run: render a Job (runs to completion once) instead of a Deployment + Service",
  },
  namespace: {
    type: "string",
    describe: 'namespace of every object (default: the kubeconfig context\'s, else "default")',
  },
  output: {
    type: "string",
    default: "yaml",
    choices: ["yaml", "json"],
    describe: "--render format: multi-document YAML or a JSON List",
  },
  kubeconfig: { type: "string", describe: "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)" },
  context: { type: "string", describe: "kubeconfig context (default: the current context)" },
  timeout: { type: "number", default: 300, describe: "--apply: seconds to wait for the rollout or the Job" },
  "git-image": {
    type: "string",
    describe: `image of the init containers that clone repositories, by digest (default: the spec's initImages.git, else ${DEFAULT_GIT_IMAGE})`,
  },
  "oras-image": {
    type: "string",
    describe: `image of the init containers that pull models, by digest (default: the spec's initImages.oras, else ${DEFAULT_ORAS_IMAGE})`,
  },
  "with-secrets": {
    type: "boolean",
    default: false,
    describe:
      "--render: include the Secrets, filled from the local secrets --apply uses (otherwise they are only named)",
  },
  "secrets-only": {
    type: "boolean",
    default: false,
    describe: "only the Secrets: print them filled (--render) or create them (--apply)",
  },
  offline: {
    type: "boolean",
    default: false,
    describe:
      "no network requests: a tag or branch in the spec fails with E_OFFLINE (automatic when everything is pinned)",
  },
  platform: { type: "string", default: "linux/amd64", describe: "platform picked when the image tag names an index" },
  insecure: {
    type: "boolean",
    default: false,
    describe: "plain HTTP to a non-loopback registry while resolving the image tag",
  },
  "require-signature": {
    type: "string",
    describe:
      "--apply: PEM public key (cosign.pub); the image's signature must verify with it before anything reaches the cluster (default $PIPELINE_REQUIRE_SIGNATURE, else the spec's requireSignature)",
  },
  // Tests poll a fake API server faster than a real cluster needs.
  "poll-interval": { type: "number", default: 2000, hidden: true },
} as const satisfies Record<string, OptionSpec>;
