/**
 * The Indexed Job a map runs on Kubernetes (`pipeline map --on kubernetes`, src/map/kubernetes.ts): one pod per
 * index (a chunk of the plan's items), made by the same functions as `pipeline run --on kubernetes` (runJob: the
 * spec's resources, machine type, GPUs, secrets, Pod Security restricted, the pull secret) and then made a map:
 *  - `completionMode: Indexed`, `completions` = the plan's chunks, `parallelism` pods at once;
 *  - `backoffLimitPerIndex` = the map's retries (each index has its own), `maxFailedIndexes: 0` (the first index that
 *    fails for good fails the Job, and the Job controller stops the others: a map's answer is all results or an error);
 *  - a `podFailurePolicy`: a disruption (eviction, preemption, a drained node: the `DisruptionTarget` condition) is
 *    ignored and the index runs again without using a retry; the worker's exit code 42 (EXIT_NOT_RETRIABLE: the task
 *    does not load, an item does not decode) fails the index at once;
 *  - the container runs the map worker every image carries, told the store and the plan by its environment
 *    (JOB_COMPLETION_INDEX, set by Kubernetes, says which chunk); the store's credential comes from a Secret of the
 *    call's own (mapSecret: owned by the Job, so it goes when the Job goes).
 * Kubernetes 1.33+ (backoffLimitPerIndex and podFailurePolicy's FailIndex are GA there).
 */
import type { V1Job, V1Secret } from "@kubernetes/client-node";
import type { ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { EXIT_NOT_RETRIABLE } from "../runtime/map-chunk";
import {
  ENV_MAP_JOB,
  ENV_POD_NAME,
  ENV_POD_UID,
  indexesOf,
  MAP_LABEL,
  MAP_WORKER_IN_IMAGE,
  QUEUE_LABEL,
  queueNameProblem,
} from "../runtime/map-cluster";
import { ENV_IN_CONTAINER, ENV_TARGET } from "../runtime";
import { objectLabels } from "./names";
import { type RenderedObject, type RenderOptions, renderJob } from "./render";
import { RUN_CONTAINER, runJob, runName } from "./run-job";

/** On the Job and its pods: the map's Job name (what the map lists its pods by). */
export { MAP_LABEL };
/** Kubernetes' own label on an Indexed Job's pods: the index. */
export const INDEX_LABEL = "batch.kubernetes.io/job-completion-index";
/** Kubernetes' annotation on an Indexed Job's pods: failed attempts of the index before this pod. */
export const INDEX_FAILURES_ANNOTATION = "batch.kubernetes.io/job-index-failure-count";
/** The most indexes (completions) a Job with backoffLimitPerIndex may have. */
export const MAX_INDEXES = 100_000;

export interface MapJobOptions {
  name: string;
  namespace: string;
  /** The pods' image (by digest) and settings: a spec (runSpec applied) or imageSpec(). */
  deployment: ResolvedDeployment;
  /** The worker in the image, e.g. ["node", "/app/node_modules/@rules_pipeline/runtime/map-worker.js"]. */
  command: string[];
  indexes: number;
  parallelism: number;
  retries: number;
  /** The worker's environment (the store, the plan): not secret. */
  env: Record<string, string>;
  /** Variables read from the call's Secret (mapSecret), by name: the store's credential. */
  secretEnv: readonly string[];
  serviceAccount?: string;
  /** Created suspended: started once its Secret exists (kubernetes.ts), or by Kueue when `queue` is given. */
  suspend?: boolean;
  /** A Kueue LocalQueue (its label on the Job; the Job is created suspended and Kueue admits it). */
  queue?: string;
}

export function mapJob(o: MapJobOptions): V1Job {
  if (!Number.isInteger(o.indexes) || o.indexes < 1 || o.indexes > MAX_INDEXES)
    throw new PipelineError(
      "E_MAP_TARGET",
      `--on kubernetes: a map's Job has 1 to ${MAX_INDEXES} indexes, this plan has ${o.indexes}: raise --chunk-size`,
    );
  const job = runJob({
    name: o.name,
    namespace: o.namespace,
    deployment: o.deployment,
    serviceAccount: o.serviceAccount,
  });
  if (o.queue !== undefined) {
    const problem = queueNameProblem(o.queue);
    if (problem) throw new PipelineError("E_MAP_TARGET", `--queue: ${problem}, got ${JSON.stringify(o.queue)}`);
  }
  job.metadata!.labels = {
    ...job.metadata!.labels,
    [MAP_LABEL]: o.name,
    ...(o.queue !== undefined ? { [QUEUE_LABEL]: o.queue } : {}),
  };
  const template = job.spec!.template;
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, [MAP_LABEL]: o.name } };
  const container = template.spec!.containers[0];
  container.command = o.command;
  container.args = [];
  const names = new Set([...Object.keys(o.env), ...o.secretEnv]);
  container.env = [
    ...(container.env ?? []).filter((e) => !names.has(e.name)),
    ...Object.entries(o.env).map(([name, value]) => ({ name, value })),
    ...o.secretEnv.map((name) => ({ name, valueFrom: { secretKeyRef: { name: o.name, key: name } } })),
  ];
  const { backoffLimit: _, ...spec } = job.spec!;
  job.spec = {
    ...spec,
    ...(o.suspend || o.queue !== undefined ? { suspend: true } : {}),
    completions: o.indexes,
    completionMode: "Indexed",
    parallelism: Math.min(o.parallelism, o.indexes),
    backoffLimitPerIndex: o.retries,
    maxFailedIndexes: 0,
    podFailurePolicy: {
      rules: [
        { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        {
          action: "FailIndex",
          onExitCodes: { containerName: RUN_CONTAINER, operator: "In", values: [EXIT_NOT_RETRIABLE] },
        },
      ],
    },
  };
  return job;
}

/** The Secret holding the store's credential for one map's pods, owned by its Job once the Job exists. */
export function mapSecret(job: V1Job, values: Record<string, string>, owner?: { uid: string }): V1Secret {
  const name = job.metadata!.name!;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace: job.metadata!.namespace,
      labels: { ...objectLabels(name), [MAP_LABEL]: name },
      ...(owner
        ? { ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: owner.uid, controller: false }] }
        : {}),
    },
    type: "Opaque",
    stringData: values,
  };
}

/**
 * A run's Job made able to map from its pod (src/runtime/map-cluster.ts, docs/scale-out.md "From inside a pod"): the
 * container gets PIPELINE_MAP_JOB, the Job `pipeline map --on kubernetes` would make for this run's image and settings
 * (mapJob: the worker, the podFailurePolicy, the spec's secrets as secretKeyRefs) with a generateName instead of a
 * name, which the pod's runMap names, sizes and points at its store; PIPELINE_POD_NAME and PIPELINE_POD_UID (downward
 * API), so the pod owns the Jobs it makes; PIPELINE_TARGET=kubernetes unless the run's env sets it; and
 * PIPELINE_IN_CONTAINER=1 (a run has it; a rendered Job gets it). The map's pods carry none of the first four (a
 * task's own runMap stays on its threads) and run as the namespace's default ServiceAccount.
 */
export function withMapTemplate(run: V1Job, o: { deployment: ResolvedDeployment }): V1Job {
  const meta = run.metadata!;
  const base = runName(`map-${meta.name}`).slice(0, 40);
  const template = mapJob({
    name: base,
    namespace: meta.namespace!,
    deployment: o.deployment,
    command: ["node", MAP_WORKER_IN_IMAGE],
    indexes: 1,
    parallelism: 1,
    retries: 0,
    env: {},
    secretEnv: [],
  });
  delete template.metadata!.name;
  template.metadata!.generateName = `${base}-`;
  const own = new Set([ENV_MAP_JOB, ENV_POD_NAME, ENV_POD_UID, ENV_TARGET]);
  const mapContainer = template.spec!.template.spec!.containers[0];
  mapContainer.env = (mapContainer.env ?? []).filter((e) => !own.has(e.name));
  const container = run.spec!.template.spec!.containers[0];
  const env = container.env ?? [];
  container.env = [
    ...env.filter((e) => e.name !== ENV_MAP_JOB && e.name !== ENV_POD_NAME && e.name !== ENV_POD_UID),
    ...(env.some((e) => e.name === ENV_TARGET) ? [] : [{ name: ENV_TARGET, value: "kubernetes" }]),
    // A run has it already; a rendered Job (renderMappingJob) gets it here: runMap in the pod is in a container.
    ...(env.some((e) => e.name === ENV_IN_CONTAINER) ? [] : [{ name: ENV_IN_CONTAINER, value: "1" }]),
    { name: ENV_MAP_JOB, value: JSON.stringify(template) },
    { name: ENV_POD_NAME, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: ENV_POD_UID, valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
  ];
  return run;
}

/** What the ServiceAccount of a pipeline that maps from its pod may do in its namespace, and nothing more. */
export const MAP_RBAC_RULES = [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "delete"] }];

/**
 * `pipeline deploy SPEC --job` of a spec with `artifacts` (its pipeline maps from its pod, docs/scale-out.md): the Job
 * renderJob renders, run as a ServiceAccount of its own (`NAME-maps`) that a Role binds to {@link MAP_RBAC_RULES},
 * with the map's Job template (withMapTemplate). Rendered before the Job, so that --apply creates them first. A spec
 * without `artifacts` renders what renderJob does.
 */
export function renderMappingJob(r: ResolvedDeployment, opts: RenderOptions): RenderedObject[] {
  const objects = renderJob(r, opts);
  if (r.spec.artifacts === undefined) return objects;
  const job = objects.at(-1) as V1Job;
  const name = `${r.spec.name}-maps`;
  const namespace = job.metadata!.namespace!;
  const metadata = { name, namespace, labels: objectLabels(r.spec.name) };
  job.spec!.template.spec!.serviceAccountName = name;
  withMapTemplate(job, { deployment: r });
  const rbac: RenderedObject[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata, rules: MAP_RBAC_RULES },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  ];
  return [...objects.slice(0, -1), ...rbac, job];
}

/**
 * The indexes of a Job status's `completedIndexes` / `failedIndexes` ("1,3-5,7"). A value that is not this grammar
 * (a server is not ours) is an error naming it.
 */
export function parseIndexes(text: string | undefined, field: string, limit: number): number[] {
  const out = indexesOf(text, limit);
  if (!out)
    throw new PipelineError(
      "E_K8S_API",
      `the Job's status.${field} is not a list of indexes below ${limit}: ${JSON.stringify((text ?? "").slice(0, 200))}`,
    );
  return out;
}
