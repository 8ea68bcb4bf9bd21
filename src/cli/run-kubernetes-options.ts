/**
 * The options `pipeline run` takes for `--on kubernetes` (run-kubernetes.ts), apart from the handler so the
 * command table can list them without loading it.
 */
import type { OptionSpec } from "./args";

export const RUN_KUBERNETES_OPTIONS = {
  on: {
    type: "string",
    choices: ["local", "kubernetes"],
    describe: "where to run: local (default: containers on this machine) or kubernetes (a Job on the cluster)",
  },
  "keep-job": {
    type: "boolean",
    default: false,
    describe: "--on kubernetes: keep the Job (and its pod) after it ends (Ctrl-C deletes it anyway)",
  },
  namespace: {
    type: "string",
    describe: '--on kubernetes: namespace of the Job (default: the kubeconfig context\'s, else "default")',
  },
  kubeconfig: {
    type: "string",
    describe: "--on kubernetes: kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
  },
  context: { type: "string", describe: "--on kubernetes: kubeconfig context (default: the current context)" },
  timeout: {
    type: "number",
    describe: "--on kubernetes: seconds to wait for the pod to start (default 300; the run itself has no limit)",
  },
  cpu: { type: "string", describe: "--on kubernetes: CPU request and limit, e.g. 2 or 500m" },
  memory: { type: "string", describe: "--on kubernetes: memory request and limit, e.g. 4Gi" },
  gpu: {
    type: "number",
    describe: "--on kubernetes: NVIDIA GPUs (nvidia.com/gpu, with a toleration of the GPU taint)",
  },
  "machine-type": {
    type: "string",
    describe:
      "--on kubernetes: a Gradient machine type (e.g. A100): its cpu/memory/gpu and a preferred node affinity, as a spec's resources.machineType",
  },
  restricted: {
    type: "boolean",
    describe:
      "--on kubernetes: Pod Security restricted (the default); --no-restricted: no securityContext (the image's user, root included)",
  },
  "service-account": { type: "string", describe: "--on kubernetes: the pod's service account" },
  "run-as-user": {
    type: "number",
    describe: "--on kubernetes: the pod's user id (default: the spec's, else 65532; never root)",
  },
  "ttl-seconds": {
    type: "number",
    describe:
      "--on kubernetes: ttlSecondsAfterFinished of the Job (default: the spec's job.ttlSecondsAfterFinished, else 86400)",
  },
  // Tests poll a fake API server faster than a real cluster needs.
  "poll-interval": { type: "number", hidden: true },
} as const satisfies Record<string, OptionSpec>;
