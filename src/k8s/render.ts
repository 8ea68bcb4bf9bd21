/**
 * Kubernetes manifests for a resolved deployment.
 *
 * A deployment (`pipeline deploy SPEC`) renders to, in this order:
 *  - placeholder Secrets (see secret-objects.ts), sorted by name, never with data: `--apply` fills them,
 *    `--render` drops them and names them instead (render-output.ts);
 *  - a Deployment (apps/v1) with `replicas` pods;
 *  - a Service (v1, ClusterIP) with one TCP port per spec port (port = targetPort; named `http` for the first,
 *    `tcp-PORT` for the others), omitted when the spec has no ports.
 * Each pod template lists the Secrets it needs in the annotation `rules-pipeline/required-secrets`.
 * A pipeline run (`--job`) renders the Secrets and a Job (batch/v1): backoffLimit 0, parallelism =
 * completions = replicas (completionMode Indexed when > 1), restartPolicy Never, ttlSecondsAfterFinished and
 * activeDeadlineSeconds from `job:` (defaults 1 day, 1 week). The Job's name is `<name>-<hash>` of its
 * immutable fields (template, completions, completionMode): applying the same resolved spec twice does not
 * start a second run (delete the Job to rerun), and any change to them gives a new Job. `pipeline run --on
 * kubernetes` creates this same Job (jobOf), renamed and relabelled as a run (run-job.ts).
 *
 * Every object carries `app.kubernetes.io/name`, `instance`, `version` and `managed-by: rules_pipeline`;
 * selectors use the name label only. The image must be by digest (a ResolvedDeployment's `image`): a
 * tag-only image is refused. Probes, resources, the machine type and securityContext: pod-settings.ts.
 * Repositories are cloned into an emptyDir per pod (the `dataset` name
 * is recorded as an annotation; a shared PVC cache would need ReadWriteMany storage and locking, so it is
 * not used). Objects are plain data with a fixed key order, so the YAML output is deterministic.
 */
import type {
  KubernetesObject,
  V1Deployment,
  V1Job,
  V1JobSpec,
  V1ObjectMeta,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import type { ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { digestHex } from "../oci/digest";
import { pinnedDigest } from "../oci/reference";
import { ANNOTATION_PREFIX, contentHash, objectLabels, selectorLabels, validateObjectName } from "./names";
import { type PodOptions, type PodProbes, renderPod } from "./pod";
import { REQUIRED_SECRETS_ANNOTATION, requiredSecrets } from "./secret-objects";

export type RenderOptions = PodOptions;

/** What a deployment renders to; the ServiceAccount, Role and RoleBinding of a pipeline that maps from its pod (map-job.ts). */
export type RenderedObject = V1Secret | V1Deployment | V1Service | V1Job | V1ServiceAccount | V1Role | V1RoleBinding;

/** The version label: the tag the image was resolved from, else the digest's first 12 hex digits. */
export function versionOf(r: ResolvedDeployment, image: string): string {
  const digest = pinnedDigest(image);
  return r.version ?? (digest ? digestHex(digest).slice(0, 12) : "");
}

/** Pod template metadata: labels and the secrets the pod needs (see secret-objects.ts, requiredSecrets). */
function templateMeta(name: string, version: string, secrets: V1Secret[]): V1ObjectMeta {
  const meta: V1ObjectMeta = { labels: objectLabels(name, version) };
  if (secrets.length) meta.annotations = { [REQUIRED_SECRETS_ANNOTATION]: JSON.stringify(requiredSecrets(secrets)) };
  return meta;
}

function annotations(r: ResolvedDeployment): Record<string, string> | undefined {
  const a: Record<string, string> = {};
  if (r.spec.repositories) a[`${ANNOTATION_PREFIX}/dataset`] = r.spec.repositories.dataset;
  if (r.commit) a[`${ANNOTATION_PREFIX}/commit`] = r.commit;
  return Object.keys(a).length ? a : undefined;
}

function checkReplicas(n: number): number {
  if (!Number.isInteger(n) || n < 1)
    throw new PipelineError("E_K8S_SPEC", `resources.replicas: expected an integer >= 1, got ${JSON.stringify(n)}`);
  return n;
}

function checkNamespace(ns: string): string {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) {
    throw new PipelineError(
      "E_K8S_NAMESPACE",
      `--namespace: expected a lower-case DNS label, got ${JSON.stringify(ns)}`,
    );
  }
  return ns;
}

/** Secrets + Deployment + Service (when there are ports). */
export function renderDeployment(r: ResolvedDeployment, opts: RenderOptions): RenderedObject[] {
  const name = validateObjectName(r.spec.name);
  const namespace = checkNamespace(opts.namespace);
  const replicas = checkReplicas(r.spec.resources.replicas);
  const { pod, secrets } = renderPod(r, opts, "defaults");
  const version = versionOf(r, pod.containers[0].image ?? "");
  const meta = {
    name,
    namespace,
    labels: objectLabels(name, version),
    ...(annotations(r) ? { annotations: annotations(r) } : {}),
  };
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta,
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(name) },
      template: { metadata: templateMeta(name, version, secrets), spec: pod },
    },
  };
  const out: RenderedObject[] = [...secrets, deployment];
  if (r.spec.ports.length) {
    const service: V1Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, labels: objectLabels(name, version) },
      spec: {
        type: "ClusterIP",
        selector: selectorLabels(name),
        ports: r.spec.ports.map((p, i) => ({ name: servicePortName(p, i), port: p, targetPort: p, protocol: "TCP" })),
      },
    };
    out.push(service);
  }
  return out;
}

/** Secrets + a Job that runs `replicas` pods to completion once. */
export function renderJob(r: ResolvedDeployment, opts: RenderOptions): RenderedObject[] {
  const { job, secrets } = jobOf(r, opts, "given");
  return [...secrets, job];
}

/**
 * The Job of a resolved deployment and the placeholder Secrets its pod refers to: what `--job` renders, and what
 * `pipeline run --on kubernetes` starts from (run-job.ts, with `withProbes: "none"`).
 */
export function jobOf(
  r: ResolvedDeployment,
  opts: RenderOptions,
  withProbes: Exclude<PodProbes, "defaults">,
): { job: V1Job; secrets: V1Secret[] } {
  const base = validateObjectName(r.spec.name, 54);
  const namespace = checkNamespace(opts.namespace);
  const replicas = checkReplicas(r.spec.resources.replicas);
  const { pod, secrets } = renderPod(r, opts, withProbes);
  pod.restartPolicy = "Never";
  const version = versionOf(r, pod.containers[0].image ?? "");
  const template = { metadata: templateMeta(base, version, secrets), spec: pod };
  const immutable: V1JobSpec = {
    completions: replicas,
    ...(replicas > 1 ? { completionMode: "Indexed" } : {}),
    template,
  };
  // The name covers every field a Job cannot change (template, completions, completionMode).
  const name = `${base}-${contentHash(immutable)}`;
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name,
      namespace,
      labels: objectLabels(base, version),
      ...(annotations(r) ? { annotations: annotations(r) } : {}),
    },
    spec: {
      backoffLimit: 0,
      parallelism: replicas,
      ...immutable,
      ttlSecondsAfterFinished: r.spec.job?.ttlSecondsAfterFinished ?? DEFAULT_JOB_TTL,
      activeDeadlineSeconds: r.spec.job?.activeDeadlineSeconds ?? DEFAULT_JOB_DEADLINE,
    },
  };
  return { job, secrets };
}

export const DEFAULT_JOB_TTL = 86_400;
export const DEFAULT_JOB_DEADLINE = 604_800;

/** `http` for the first port, `tcp-PORT` for the others (IANA-style names, at most 15 characters). */
export function servicePortName(port: number, index: number): string {
  return index === 0 ? "http" : `tcp-${port}`;
}

/** `Kind namespace/name`, for messages. */
export function describeObject(o: KubernetesObject): string {
  const m = o.metadata ?? {};
  return `${o.kind} ${m.namespace ? `${m.namespace}/` : ""}${m.name ?? "?"}`;
}
