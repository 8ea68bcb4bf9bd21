/**
 * Pod settings from the spec's cluster fields:
 *  - resources: the machine type's cpu/memory/gpu (src/deploy/instance-types.ts), each replaced by the spec's
 *    own `cpu` / `memory` / `gpu`; GPUs are an `nvidia.com/gpu` limit plus a toleration of the
 *    `nvidia.com/gpu` NoSchedule taint; a machine type also gives a preferred (not required) node affinity on
 *    `node.kubernetes.io/instance-type`;
 *  - probes: the spec's; for a Deployment with a port and no probe given, TCP checks of the first port (a TCP
 *    check needs nothing from the app; an HTTP path would be a guess). Jobs get only the probes the spec gives,
 *    and the Job of `pipeline run --on kubernetes` none (pod.ts, PodProbes; run-job.ts says why);
 *  - securityContext: Pod Security "restricted" unless `securityContext.restricted: false`: runAsNonRoot,
 *    runAsUser = the spec's, else the image's numeric non-root user, else 65532; runAsGroup = the spec's, else the
 *    user's id; fsGroup = the spec's, else that group; no privilege escalation;
 *    every capability dropped; seccomp RuntimeDefault.
 */
import type {
  V1Affinity,
  V1Container,
  V1PodSecurityContext,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Toleration,
} from "@kubernetes/client-node";
import { INSTANCE_TYPES } from "../deploy/instance-types";
import type { DeploymentSpec, ProbeSpec, ResolvedDeployment, ResourcesSpec } from "../deploy/types";
import { PipelineError } from "../errors";

export const INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type";
export const GPU_RESOURCE = "nvidia.com/gpu";
/** The user pods run as when neither the spec nor the image names a non-root one (distroless's "nonroot"). */
export const DEFAULT_RUN_AS_USER = 65532;

export function containerResources(r: ResourcesSpec): V1ResourceRequirements | undefined {
  const machine = r.instanceType ? INSTANCE_TYPES[r.instanceType] : undefined;
  if (r.instanceType && !machine)
    throw new PipelineError(
      "E_K8S_SPEC",
      `resources.instanceType: unknown machine type ${JSON.stringify(r.instanceType)} (see docs/deployments.md, "Instance types")`,
    );
  const cpu = r.cpu ?? (machine ? { request: machine.cpu } : undefined);
  const memory = r.memory ?? (machine ? { request: machine.memory, limit: machine.memory } : undefined);
  const gpu = r.gpu ?? machine?.gpu ?? 0;
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (cpu?.request) requests.cpu = cpu.request;
  if (memory?.request) requests.memory = memory.request;
  if (cpu?.limit) limits.cpu = cpu.limit;
  if (memory?.limit) limits.memory = memory.limit;
  if (gpu > 0) limits[GPU_RESOURCE] = String(gpu);
  const out: V1ResourceRequirements = {};
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return Object.keys(out).length ? out : undefined;
}

export function scheduling(r: ResourcesSpec): { affinity?: V1Affinity; tolerations?: V1Toleration[] } {
  const out: { affinity?: V1Affinity; tolerations?: V1Toleration[] } = {};
  if (r.instanceType) {
    out.affinity = {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            preference: { matchExpressions: [{ key: INSTANCE_TYPE_LABEL, operator: "In", values: [r.instanceType] }] },
          },
        ],
      },
    };
  }
  if (containerResources(r)?.limits?.[GPU_RESOURCE])
    out.tolerations = [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }];
  return out;
}

function probe(p: ProbeSpec): V1Probe {
  const out: V1Probe =
    p.kind === "http" ? { httpGet: { path: p.path, port: p.port } } : { tcpSocket: { port: p.port } };
  for (const k of ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"] as const)
    if (p[k] !== undefined) out[k] = p[k];
  return out;
}

/** Readiness and liveness probes; defaults only for long-running pods (`withDefaults`). */
export function probes(
  s: Pick<DeploymentSpec, "probes" | "ports">,
  withDefaults: boolean,
): Pick<V1Container, "readinessProbe" | "livenessProbe"> {
  const out: Pick<V1Container, "readinessProbe" | "livenessProbe"> = {};
  const port = s.ports[0];
  const readiness =
    s.probes?.readiness ?? (withDefaults && port ? ({ kind: "tcp", port, periodSeconds: 10 } as const) : false);
  const liveness =
    s.probes?.liveness ??
    (withDefaults && port ? ({ kind: "tcp", port, initialDelaySeconds: 10, periodSeconds: 20 } as const) : false);
  if (readiness) out.readinessProbe = probe(readiness);
  if (liveness) out.livenessProbe = probe(liveness);
  return out;
}

/** Whether the pod meets Pod Security "restricted" (the default). */
export function isRestricted(s: Pick<DeploymentSpec, "securityContext">): boolean {
  return s.securityContext?.restricted !== false;
}

export function podSecurityContext(r: ResolvedDeployment): V1PodSecurityContext | undefined {
  const sc = r.spec.securityContext;
  if (!isRestricted(r.spec)) return undefined;
  const user = sc?.runAsUser ?? (r.imageUser && r.imageUser > 0 ? r.imageUser : DEFAULT_RUN_AS_USER);
  if (user === 0)
    throw new PipelineError(
      "E_K8S_SPEC",
      "securityContext.runAsUser: 0 (root) cannot run under Pod Security restricted; set securityContext.restricted: false to run as root",
    );
  // The group too: left out, the process's group would be the image's, root (0) for most images.
  const group = sc?.runAsGroup ?? user;
  const out: V1PodSecurityContext = { runAsNonRoot: true, runAsUser: user, runAsGroup: group };
  out.fsGroup = sc?.fsGroup ?? group;
  out.seccompProfile = { type: "RuntimeDefault" };
  return out;
}

/** Each container's part of "restricted". */
export function containerSecurityContext(s: Pick<DeploymentSpec, "securityContext">): V1SecurityContext | undefined {
  if (!isRestricted(s)) return undefined;
  return { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
}
