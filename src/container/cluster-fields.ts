/**
 * What the local runner makes of a spec's cluster fields (docs/deployments.md, "Cluster fields of the spec"):
 *  - honoured: the memory limit (`resources.memory`, else the machine type's) and the CPU limit
 *    (`resources.cpu.limit`) as cgroup limits (runc as root, podman, docker), and `securityContext.runAsUser` /
 *    `runAsGroup` as the container's user; `modelDelivery` needs nothing here (models are always mounted read-only
 *    from the cache, laid out as an image volume: src/weights/index.ts);
 *  - ignored, named in one warning line: requests (nothing to schedule), GPUs, the machine type's node
 *    affinity, probes, job settings, the model cache (models are cached locally anyway), init images, and the
 *    restricted securityContext's seccomp/capabilities.
 */
import { INSTANCE_TYPES } from "../deploy/instance-types";
import { parseQuantity } from "../deploy/quantity";
import type { DeploymentSpec } from "../deploy/types";
import type { CgroupLimits } from "./runc-config";

export interface LocalRunSettings {
  cgroup?: CgroupLimits;
  user?: { uid: number; gid: number };
  /** Spec fields the local runner does not apply. */
  ignored: string[];
}

export function localRunSettings(spec: DeploymentSpec, inContainer: boolean): LocalRunSettings {
  const r = spec.resources;
  const machine = r.instanceType ? INSTANCE_TYPES[r.instanceType] : undefined;
  const ignored: string[] = [];
  const cgroup: CgroupLimits = {};
  const memoryLimit = r.memory ? r.memory.limit : machine?.memory;
  if (memoryLimit) cgroup.memoryBytes = Math.floor(parseQuantity(memoryLimit) ?? 0) || undefined;
  if (r.cpu?.limit) cgroup.cpus = parseQuantity(r.cpu.limit);
  if (r.memory?.request) ignored.push("resources.memory.request");
  if (r.cpu?.request) ignored.push("resources.cpu.request");
  if (r.instanceType)
    ignored.push(`resources.instanceType (its node affinity and cpu request${machine?.gpu ? " and GPUs" : ""})`);
  if (r.gpu) ignored.push("resources.gpu");
  if (spec.probes) ignored.push("probes");
  if (spec.job) ignored.push("job");
  if (spec.modelCache) ignored.push("modelCache");
  if (spec.initImages) ignored.push("initImages");
  const sc = spec.securityContext;
  let user: LocalRunSettings["user"];
  if (sc?.runAsUser !== undefined) user = { uid: sc.runAsUser, gid: sc.runAsGroup ?? sc.runAsUser };
  if (sc && sc.restricted !== false) ignored.push("securityContext (restricted: seccomp and dropped capabilities)");
  if (sc?.fsGroup !== undefined) ignored.push("securityContext.fsGroup");
  const hasCgroup = cgroup.memoryBytes !== undefined || cgroup.cpus !== undefined;
  if (!inContainer) {
    if (cgroup.memoryBytes) ignored.push("resources.memory (no container)");
    if (cgroup.cpus) ignored.push("resources.cpu.limit (no container)");
    if (user) ignored.push("securityContext.runAsUser (no container)");
    return { ignored };
  }
  return { ...(hasCgroup ? { cgroup } : {}), ...(user ? { user } : {}), ignored };
}
