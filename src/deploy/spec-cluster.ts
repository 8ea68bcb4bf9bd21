/**
 * Builds the cluster fields of a DeploymentSpec (resources, probes, securityContext, job, modelCache,
 * modelDelivery, initImages, admission) from their checked values (spec-fields-cluster.ts), with the cross-field rules: an http probe
 * needs a port, a machine type sets cpu/memory/gpu unless they are given.
 */
import type { CheckedClusterFields, CheckedProbe } from "./spec-fields-cluster";
import type { SpecContext } from "./spec-schema";
import type { DeploymentSpec, ProbeSpec, ProbeTiming, QuantitySpec, ResourcesSpec } from "./types";

const TIMING = ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"] as const;

function quantityOf(v: QuantitySpec | string | undefined, scalarIsLimit: boolean): QuantitySpec | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") return scalarIsLimit ? { request: v, limit: v } : { request: v };
  return v;
}

export function resourcesOf(r: CheckedClusterFields["resources"]): ResourcesSpec {
  const out: ResourcesSpec = { replicas: r?.replicas ?? 1 };
  if (!r) return out;
  const instanceType = r.instanceType ?? r.machineType;
  if (instanceType !== undefined) out.instanceType = instanceType;
  const cpu = quantityOf(r.cpu, false);
  if (cpu) out.cpu = cpu;
  const memory = quantityOf(r.memory, true);
  if (memory) out.memory = memory;
  if (r.gpu !== undefined) out.gpu = r.gpu;
  return out;
}

function probeOf(
  p: CheckedProbe | false,
  path: string,
  ports: number[],
  cx: SpecContext,
): ProbeSpec | false | undefined {
  if (p === false) return false;
  const timing: ProbeTiming = {};
  for (const k of TIMING) {
    const v = p[k];
    if (v !== undefined) timing[k] = v;
  }
  if (p.tcp !== undefined) return { kind: "tcp", port: p.tcp, ...timing };
  if (p.http === undefined) return undefined; // the probe validator lets through exactly one of http and tcp
  const port = p.port ?? ports[0];
  if (port === undefined) {
    cx.report(path, cx.where(path), 'an http check needs a port: give "port" here or a port for the spec');
    return undefined;
  }
  return { kind: "http", path: p.http, port, ...timing };
}

/** Adds the cluster fields to `spec`. */
export function addClusterFields(spec: DeploymentSpec, c: CheckedClusterFields, cx: SpecContext): void {
  const probes = c.probes;
  if (probes) {
    spec.probes = {};
    for (const k of ["readiness", "liveness"] as const) {
      const checked = probes[k];
      if (checked === undefined) continue;
      const p = probeOf(checked, `probes.${k}`, spec.ports, cx);
      if (p !== undefined) spec.probes[k] = p;
    }
  }
  const sc = c.securityContext;
  if (sc) {
    // A checked mapping's own enumerable keys are its valid fields (the bookkeeping is not enumerable).
    spec.securityContext = { ...sc };
    if (sc.runAsUser === 0 && sc.restricted !== false) {
      cx.report(
        "securityContext.runAsUser",
        cx.where("securityContext.runAsUser"),
        "root (0) cannot run under Pod Security restricted (the default); set restricted: false to run as root",
        "0",
      );
    }
    if (sc.restricted === false && Object.keys(sc).length > 1) {
      cx.report(
        "securityContext",
        cx.where("securityContext.restricted"),
        "restricted: false renders no securityContext; drop runAsUser/runAsGroup/fsGroup or keep restricted",
      );
    }
  }
  if (c.job) spec.job = { ...c.job };
  if (c.modelCache !== undefined) spec.modelCache = c.modelCache;
  if (c.modelDelivery !== undefined) spec.modelDelivery = c.modelDelivery;
  if (spec.modelDelivery === "imageVolume" && spec.modelCache !== undefined) {
    // An image volume is the node runtime's own cache (pulled once per node, shared by its pods): a PVC beside it
    // would hold nothing, and silently dropping either field would hide a choice the user made.
    cx.report(
      "modelDelivery",
      cx.where("modelDelivery"),
      "imageVolume does not go with modelCache: an image volume is cached by the node's runtime, so there is nothing for the PersistentVolumeClaim to keep; drop modelCache (or use modelDelivery: initContainer)",
      '"imageVolume"',
    );
  }
  if (c.initImages) spec.initImages = { ...c.initImages };
  if (c.admission) spec.admission = { engine: c.admission.engine };
}
