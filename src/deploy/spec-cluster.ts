/**
 * Builds the cluster fields of a DeploymentSpec (resources, probes, securityContext, job, modelCache,
 * initImages) from their checked values (spec-fields-cluster.ts), with the cross-field rules: an http probe
 * needs a port, a machine type sets cpu/memory/gpu unless they are given.
 */
import type { Checked } from "../schema/validators";
import type { SpecContext } from "./spec-schema";
import type { DeploymentSpec, ProbeSpec, QuantitySpec, ResourcesSpec } from "./types";

type Raw = Checked & Record<string, unknown>;

function quantityOf(v: unknown, scalarIsLimit: boolean): QuantitySpec | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") return scalarIsLimit ? { request: v, limit: v } : { request: v };
  return v as QuantitySpec;
}

export function resourcesOf(r: Raw | undefined): ResourcesSpec {
  const out: ResourcesSpec = { replicas: (r?.replicas as number | undefined) ?? 1 };
  if (!r) return out;
  const instanceType = (r.instanceType ?? r.machineType) as string | undefined;
  if (instanceType !== undefined) out.instanceType = instanceType;
  const cpu = quantityOf(r.cpu, false);
  if (cpu) out.cpu = cpu;
  const memory = quantityOf(r.memory, true);
  if (memory) out.memory = memory;
  if (r.gpu !== undefined) out.gpu = r.gpu as number;
  return out;
}

function probeOf(p: Raw | false, path: string, ports: number[], cx: SpecContext): ProbeSpec | false | undefined {
  if (p === false) return false;
  const timing: Record<string, number> = {};
  for (const k of ["initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold"]) if (p[k] !== undefined) timing[k] = p[k] as number;
  if (p.tcp !== undefined) return { kind: "tcp", port: p.tcp as number, ...timing };
  const port = (p.port as number | undefined) ?? ports[0];
  if (port === undefined) {
    cx.report(path, cx.where(path), 'an http check needs a port: give "port" here or a port for the spec');
    return undefined;
  }
  return { kind: "http", path: p.http as string, port, ...timing };
}

/** Adds the cluster fields to `spec`. */
export function addClusterFields(spec: DeploymentSpec, c: Raw, cx: SpecContext): void {
  const probes = c.probes as Raw | undefined;
  if (probes) {
    spec.probes = {};
    for (const k of ["readiness", "liveness"] as const) {
      if (probes[k] === undefined) continue;
      const p = probeOf(probes[k] as Raw | false, `probes.${k}`, spec.ports, cx);
      if (p !== undefined) spec.probes[k] = p;
    }
  }
  const sc = c.securityContext as Raw | undefined;
  if (sc) {
    spec.securityContext = {};
    for (const k of ["restricted", "runAsUser", "runAsGroup", "fsGroup"] as const)
      if (sc[k] !== undefined) (spec.securityContext as Record<string, unknown>)[k] = sc[k];
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
  const job = c.job as Raw | undefined;
  if (job) spec.job = { ...job } as DeploymentSpec["job"];
  if (c.modelCache !== undefined) spec.modelCache = c.modelCache as string;
  const init = c.initImages as Raw | undefined;
  if (init) spec.initImages = { ...init } as DeploymentSpec["initImages"];
}
