/**
 * The Job `pipeline run --on kubernetes` (and runOnKubernetes in the runtime) creates: one pod, never retried
 * (`backoffLimit: 0`, `restartPolicy: Never`: the exit code is the run's answer), removed by the TTL controller
 * `ttlSecondsAfterFinished` after it finishes if nobody deletes it first, and a pod that passes Pod Security
 * "restricted": runAsNonRoot with user 65532 unless given, no privilege escalation, every capability dropped,
 * the runtime's default seccomp profile. `gpu: N` asks for `nvidia.com/gpu` and tolerates the taint GPU node
 * pools carry. The pods are found by the label {@link RUN_LABEL} (set here, not by the Job controller).
 */
import { randomBytes } from "node:crypto";
import { PipelineError } from "../errors";
import { ANNOTATION_PREFIX, MANAGED_BY, SECRET_KEY } from "./names";

export const RUN_LABEL = `${ANNOTATION_PREFIX}/run`;
export const RUN_CONTAINER = "main";
export const DEFAULT_RUN_AS_USER = 65532;
export const DEFAULT_TTL_SECONDS = 3600;

export interface RunResources {
  /** Kubernetes CPU quantity: "2", "500m". */
  cpu?: string;
  /** Kubernetes memory quantity: "4Gi", "512Mi". */
  memory?: string;
  /** Number of NVIDIA GPUs (`nvidia.com/gpu`). */
  gpu?: number;
}

export interface RunJobOptions {
  /** The Job's name (see {@link runJobName}). */
  name: string;
  namespace: string;
  /** HOST/REPO@sha256:... */
  image: string;
  /** Replaces the image's entrypoint. */
  command?: string[];
  /** Replaces the image's Cmd. */
  args?: string[];
  env?: Record<string, string>;
  /** Environment variables read from Secrets: name → the Secret object holding the value under key `value`. */
  secretEnv?: Record<string, string>;
  workingDir?: string;
  resources?: RunResources;
  serviceAccount?: string;
  /** Default {@link DEFAULT_RUN_AS_USER}. */
  runAsUser?: number;
  /** Default {@link DEFAULT_TTL_SECONDS}. */
  ttlSecondsAfterFinished?: number;
  /** Secret of type dockerconfigjson the kubelet pulls the image with. */
  imagePullSecret?: string;
}

const CPU = /^(\d+(\.\d+)?|\.\d+)m?$/;
const MEMORY = /^(\d+(\.\d+)?|\.\d+)([KMGTPE]i?|k|m)?$/;

function bad(field: string, expected: string, got: unknown): PipelineError {
  return new PipelineError("E_K8S_RUN_OPTION", `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { exitCode: 2 });
}

/** `BASE-xxxxx`: BASE folded to a DNS label (at most 40 characters), a random suffix so runs never collide. */
export function runJobName(base: string, random: () => string = () => randomBytes(4).toString("hex").slice(0, 5)): string {
  let folded = base.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").slice(0, 40).replace(/-+$/, "");
  if (!folded) folded = "run";
  return `${folded}-${random()}`;
}

export function validateResources(r: RunResources = {}, prefix = ""): RunResources {
  if (r.cpu !== undefined && !CPU.test(r.cpu)) throw bad(`${prefix}cpu`, 'a Kubernetes CPU quantity such as "2" or "500m"', r.cpu);
  if (r.memory !== undefined && !MEMORY.test(r.memory)) throw bad(`${prefix}memory`, 'a Kubernetes memory quantity such as "4Gi" or "512Mi"', r.memory);
  if (r.gpu !== undefined && !(Number.isInteger(r.gpu) && r.gpu >= 0)) throw bad(`${prefix}gpu`, "a whole number of GPUs >= 0", r.gpu);
  return r;
}

export function runJob(o: RunJobOptions): Record<string, any> {
  const r = validateResources(o.resources);
  const runAsUser = o.runAsUser ?? DEFAULT_RUN_AS_USER;
  if (!Number.isInteger(runAsUser) || runAsUser < 1) throw bad("runAsUser", "a non-root user id (an integer >= 1)", o.runAsUser);
  const ttl = o.ttlSecondsAfterFinished ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 0) throw bad("ttlSecondsAfterFinished", "whole seconds >= 0", o.ttlSecondsAfterFinished);
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (r.cpu) requests.cpu = limits.cpu = r.cpu;
  if (r.memory) requests.memory = limits.memory = r.memory;
  if (r.gpu) limits["nvidia.com/gpu"] = String(r.gpu);
  const labels = { "app.kubernetes.io/managed-by": MANAGED_BY, [RUN_LABEL]: o.name };
  const container: Record<string, any> = {
    name: RUN_CONTAINER,
    image: o.image,
    ...(o.command ? { command: o.command } : {}),
    ...(o.args ? { args: o.args } : {}),
    ...(o.workingDir ? { workingDir: o.workingDir } : {}),
    env: [
      ...Object.entries(o.env ?? {}).map(([name, value]) => ({ name, value })),
      ...Object.entries(o.secretEnv ?? {}).map(([name, secret]) => ({ name, valueFrom: { secretKeyRef: { name: secret, key: SECRET_KEY } } })),
    ],
    ...(Object.keys(limits).length ? { resources: { ...(Object.keys(requests).length ? { requests } : {}), limits } } : {}),
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true },
  };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: o.name, namespace: o.namespace, labels },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: ttl,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          ...(o.serviceAccount ? { serviceAccountName: o.serviceAccount } : {}),
          ...(o.imagePullSecret ? { imagePullSecrets: [{ name: o.imagePullSecret }] } : {}),
          securityContext: { runAsNonRoot: true, runAsUser, seccompProfile: { type: "RuntimeDefault" } },
          ...(r.gpu ? { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }] } : {}),
          containers: [container],
        },
      },
    },
  };
}
