/**
 * The spec fields that matter on a cluster: `resources` (replicas, machine type, cpu, memory, gpu), `probes`,
 * `securityContext`, `job`, `modelCache`, `modelDelivery`, `initImages`, `admission`. Checks only; defaults and cross-field rules are in
 * spec-cluster.ts.
 */
import { ADMISSION_ENGINE_NAMES, ADMISSION_ENGINE_TABLE } from "../admission/engines";
import { instanceTypeProblem } from "./instance-types";
import { imageReferenceProblem } from "./constructors";
import { pinnedDigest } from "../oci/reference";
import {
  bool,
  choice,
  type Fields,
  type Infer,
  int,
  obj,
  type Shape,
  str,
  type V,
  viewAt,
  withSchema,
} from "../schema/validators";

const MAX_REPLICAS = 10_000;
/** A Kubernetes quantity as people write it: 2, 0.5, 500m, 4Gi, 1.5G. */
export const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const PVC_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** A quantity: a string, or a number (written as is: `cpu: 2`, `cpu: 0.5`). */
export const quantity: V<string> = withSchema<string>(
  (node, path, cx) => {
    const n = viewAt(cx, node, path);
    const line = n.line;
    const text =
      n.kind === "scalar" && (typeof n.value === "number" || typeof n.value === "string")
        ? typeof n.value === "number" && n.source !== undefined
          ? n.source
          : String(n.value)
        : undefined;
    if (text === undefined || !QUANTITY.test(text) || Number.parseFloat(text) === 0) {
      cx.report(path, line, "expected a positive Kubernetes quantity (e.g. 2, 500m, 4Gi)", cx.describe(node));
      return undefined;
    }
    return text;
  },
  { type: ["string", "number"], pattern: QUANTITY.source },
);

/** `cpu: 2` or `cpu: {request: 1, limit: 2}`. */
function requestLimit(what: string): V<{ request?: string; limit?: string } | string> {
  const pair = obj(
    { request: { v: quantity }, limit: { v: quantity } },
    `a quantity or a mapping {request, limit} (${what})`,
  );
  return withSchema(
    (node, path, cx) => {
      const n = cx.view(node);
      if (n.kind !== "map") return quantity(node, path, cx);
      const c = pair(node, path, cx);
      if (!c?.__valid) return undefined;
      if (c.request === undefined && c.limit === undefined) {
        cx.report(path, n.line, "expected request, limit or both", "an empty mapping");
        return undefined;
      }
      return {
        ...(c.request !== undefined ? { request: c.request } : {}),
        ...(c.limit !== undefined ? { limit: c.limit } : {}),
      };
    },
    { oneOf: [quantity.schema, pair.schema] },
  );
}

const port = int(1, 65535, "a port number (an integer 1-65535)");
const seconds = (max: number) => int(1, max, `a whole number of seconds (1-${max})`);

function httpPathProblem(s: string): string | undefined {
  return /^\/[\x21-\x7e]*$/.test(s) ? undefined : "expected an HTTP path starting with '/' (no spaces)";
}

const probeFields = {
  http: { v: str(httpPathProblem), doc: "HTTP GET of this path; 2xx/3xx is healthy" },
  tcp: { v: port, doc: "a TCP connection to this port" },
  port: { v: port, doc: "the http check's port (default: the spec's first port)" },
  initialDelaySeconds: { v: int(0, 3600, "a whole number of seconds (0-3600)") },
  periodSeconds: { v: seconds(3600) },
  timeoutSeconds: { v: seconds(3600) },
  failureThreshold: { v: int(1, 100, "an integer 1-100") },
} satisfies Fields;
const probeObj = obj(probeFields, "a mapping {http: PATH | tcp: PORT, ...} or none");

/** A probe mapping as checked: exactly one of `http` and `tcp` (the `probe` validator's rule). */
export type CheckedProbe = Infer<typeof probeObj>;

/** A probe mapping, or `none` (false). */
export const probe: V<CheckedProbe | false> = withSchema<CheckedProbe | false>(
  (node, path, cx) => {
    const n = cx.view(node);
    if (n.kind === "scalar" && (n.value === "none" || n.value === false)) return false;
    const c = probeObj(node, path, cx);
    if (!c) return undefined;
    const has = (k: string) => c.__keys.includes(k);
    if (has("http") === has("tcp")) {
      cx.report(
        path,
        n.line,
        'give exactly one of "http" (a path) or "tcp" (a port)',
        has("http") ? "both" : "neither",
      );
      return undefined;
    }
    if (has("tcp") && has("port")) {
      cx.report(`${path}.port`, cx.where(`${path}.port`), '"port" is for http checks; tcp names its port itself');
      return undefined;
    }
    return c.__valid ? c : undefined;
  },
  { oneOf: [{ const: "none" }, probeObj.schema] },
);

function pvcNameProblem(s: string): string | undefined {
  return PVC_NAME.test(s) ? undefined : "expected the name of a PersistentVolumeClaim (a lower-case DNS subdomain)";
}

function pinnedImageProblem(s: string): string | undefined {
  return (
    imageReferenceProblem(s) ??
    (pinnedDigest(s) ? undefined : "expected an image by digest (HOST/REPO[:TAG]@sha256:...)")
  );
}

/** How models reach the pod (src/k8s/model-volumes.ts): an init container copying them, or image volumes. */
export const MODEL_DELIVERIES = ["initContainer", "imageVolume"] as const;

const uid = int(0, 2147483647, "a numeric user or group id");

export const CLUSTER_FIELDS = {
  resources: {
    v: obj(
      {
        replicas: { v: int(1, MAX_REPLICAS, `a positive integer (1-${MAX_REPLICAS})`), doc: "default 1" },
        instanceType: {
          v: str(instanceTypeProblem),
          doc: "a Gradient machine name (docs/deployments.md, Instance types)",
        },
        machineType: { v: str(instanceTypeProblem), doc: "the newer name of instanceType" },
        cpu: { v: requestLimit("cores"), doc: "cores: a scalar is the request (no limit); or {request, limit}" },
        memory: { v: requestLimit("bytes, e.g. 4Gi"), doc: "a scalar is both request and limit; or {request, limit}" },
        gpu: {
          v: int(0, 64, "a number of GPUs (0-64)"),
          doc: "nvidia.com/gpu limit, with a toleration for the nvidia.com/gpu taint",
        },
      },
      "a mapping",
      { not: { required: ["instanceType", "machineType"] } },
    ),
  },
  probes: {
    v: obj({ readiness: { v: probe }, liveness: { v: probe } }, "a mapping {readiness, liveness}"),
    doc: "health checks; with a port and no probes: TCP checks of the first port",
  },
  securityContext: {
    v: obj(
      {
        restricted: { v: bool, doc: "default true: Pod Security restricted; false renders no securityContext" },
        runAsUser: { v: uid },
        runAsGroup: { v: uid },
        fsGroup: { v: uid },
      },
      "a mapping {restricted, runAsUser, runAsGroup, fsGroup}",
    ),
  },
  job: {
    v: obj(
      {
        ttlSecondsAfterFinished: {
          v: int(0, 31_536_000, "a whole number of seconds (0-31536000)"),
          doc: "default 86400",
        },
        activeDeadlineSeconds: { v: seconds(31_536_000), doc: "default 604800" },
      },
      "a mapping {ttlSecondsAfterFinished, activeDeadlineSeconds}",
    ),
    doc: "Kubernetes Job settings (pipeline deploy --job)",
  },
  modelCache: { v: str(pvcNameProblem), doc: "PersistentVolumeClaim keeping downloaded models across pod restarts" },
  modelDelivery: {
    v: choice(MODEL_DELIVERIES),
    doc: "initContainer (default): oras copies each model into the pod; imageVolume: each model is an image volume (Kubernetes 1.35+)",
  },
  initImages: {
    v: obj({ git: { v: str(pinnedImageProblem) }, oras: { v: str(pinnedImageProblem) } }, "a mapping {git, oras}"),
    doc: "init-container images by digest (mirrors); --git-image / --oras-image override",
  },
  admission: {
    v: obj(
      {
        engine: {
          v: choice(ADMISSION_ENGINE_NAMES),
          required: true,
          doc: ADMISSION_ENGINE_NAMES.map((n) => `${n}: ${ADMISSION_ENGINE_TABLE[n].doc}`).join("; "),
        },
      },
      `a mapping {engine: ${ADMISSION_ENGINE_NAMES.join(" | ")}}`,
    ),
    doc: "render the cluster's admission policy beside the workload: this image's repository, signed with requireSignature's key, with our SLSA provenance",
  },
} satisfies Fields;

/** The cluster fields as checked: what spec-cluster.ts builds a DeploymentSpec's cluster fields from. */
export type CheckedClusterFields = Shape<typeof CLUSTER_FIELDS>;
