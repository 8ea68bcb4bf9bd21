/**
 * Kubernetes manifests for a resolved deployment.
 *
 * A deployment (`pipeline deploy SPEC`) renders to, in this order:
 *  - placeholder Secrets (see secret-objects.ts), sorted by name, never with data;
 *  - a Deployment (apps/v1) with `replicas` pods;
 *  - a Service (v1, ClusterIP) with one TCP port per spec port (port = targetPort), omitted when the spec
 *    has no ports.
 * A pipeline run (`--job`) renders the Secrets and a Job (batch/v1): backoffLimit 0, parallelism =
 * completions = replicas, restartPolicy Never. The Job's name is `<name>-<hash of its pod template>`:
 * applying the same resolved spec twice does not start a second run (delete the Job to rerun), and any
 * change (a new image digest, a new env value) gives a new Job, since a Job's template is immutable.
 *
 * Every object carries `app.kubernetes.io/name: <name>` and `app.kubernetes.io/managed-by: rules_pipeline`;
 * selectors use the name label only. The image must be by digest (a ResolvedDeployment's `image`): a
 * tag-only image is refused. `resources.instanceType` becomes the node selector
 * `node.kubernetes.io/instance-type`. Repositories are cloned into an emptyDir per pod (the `dataset` name
 * is recorded as an annotation; a shared PVC cache would need ReadWriteMany storage and locking, so it is
 * not used). Objects are plain data with a fixed key order, so the YAML output is deterministic.
 */
import type { KubernetesObject, V1Deployment, V1Job, V1Secret, V1Service } from "@kubernetes/client-node";
import type { ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { ANNOTATION_PREFIX, contentHash, objectLabels, selectorLabels, validateObjectName } from "./names";
import { PodOptions, renderPod } from "./pod";

export type RenderOptions = PodOptions;

export type RenderedObject = V1Secret | V1Deployment | V1Service | V1Job;

function annotations(r: ResolvedDeployment): Record<string, string> | undefined {
  const a: Record<string, string> = {};
  if (r.spec.repositories) a[`${ANNOTATION_PREFIX}/dataset`] = r.spec.repositories.dataset;
  if (r.commit) a[`${ANNOTATION_PREFIX}/commit`] = r.commit;
  return Object.keys(a).length ? a : undefined;
}

function checkReplicas(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new PipelineError("E_K8S_SPEC", `resources.replicas: expected an integer >= 1, got ${JSON.stringify(n)}`);
  return n;
}

function checkNamespace(ns: string): string {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) {
    throw new PipelineError("E_K8S_NAMESPACE", `--namespace: expected a lower-case DNS label, got ${JSON.stringify(ns)}`);
  }
  return ns;
}

/** Secrets + Deployment + Service (when there are ports). */
export function renderDeployment(r: ResolvedDeployment, opts: RenderOptions): RenderedObject[] {
  const name = validateObjectName(r.spec.name);
  const namespace = checkNamespace(opts.namespace);
  const replicas = checkReplicas(r.spec.resources.replicas);
  const { pod, secrets } = renderPod(r, opts);
  const meta = { name, namespace, labels: objectLabels(name), ...(annotations(r) ? { annotations: annotations(r) } : {}) };
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta,
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(name) },
      template: { metadata: { labels: objectLabels(name) }, spec: pod },
    },
  };
  const out: RenderedObject[] = [...secrets, deployment];
  if (r.spec.ports.length) {
    const service: V1Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, labels: objectLabels(name) },
      spec: {
        type: "ClusterIP",
        selector: selectorLabels(name),
        ports: r.spec.ports.map((p) => ({ name: `p-${p}`, port: p, targetPort: p, protocol: "TCP" })),
      },
    };
    out.push(service);
  }
  return out;
}

/** Secrets + a Job that runs `replicas` pods to completion once. */
export function renderJob(r: ResolvedDeployment, opts: RenderOptions): RenderedObject[] {
  const base = validateObjectName(r.spec.name, 54);
  const namespace = checkNamespace(opts.namespace);
  const replicas = checkReplicas(r.spec.resources.replicas);
  const { pod, secrets } = renderPod(r, opts);
  pod.restartPolicy = "Never";
  const template = { metadata: { labels: objectLabels(base) }, spec: pod };
  const name = `${base}-${contentHash(template)}`;
  const job: V1Job = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace, labels: objectLabels(base), ...(annotations(r) ? { annotations: annotations(r) } : {}) },
    spec: { backoffLimit: 0, parallelism: replicas, completions: replicas, template },
  };
  return [...secrets, job];
}

/** `Kind namespace/name`, for messages. */
export function describeObject(o: KubernetesObject): string {
  const m = o.metadata ?? {};
  return `${o.kind} ${m.namespace ? `${m.namespace}/` : ""}${m.name ?? "?"}`;
}
