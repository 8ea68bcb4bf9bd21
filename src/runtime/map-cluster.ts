/**
 * A map's Indexed Job made from inside a pod (docs/scale-out.md, "From inside a pod"): a pipeline that already runs
 * on the cluster (`pipeline run --on kubernetes`, runOnKubernetes()) spreads a step over pods of its own image,
 * Sematic's CloudResolver shape. The Job is the one `pipeline map --on kubernetes` makes: the CLI that created the pod
 * rendered it into the pod's PIPELINE_MAP_JOB (src/k8s/map-job.ts mapTemplate: the image by digest, resources, the
 * spec's secrets as secretKeyRefs, Pod Security restricted, the podFailurePolicy); here it gets only its name, its
 * size (completions, parallelism, retries), the store and the plan, and an ownerReference to this pod, so that
 * deleting the pipeline's pod deletes the map.
 *
 * The pod's ServiceAccount token talks to the API server (KUBERNETES_SERVICE_HOST). What it needs in its namespace:
 * `create`, `get` and `delete` on `jobs`, nothing more. The store's credential reaches the map's pods through the
 * Secrets the pipeline's own pod reads (no Secret is made); progress and failure come from the Job's status and the
 * store (no pod is listed, no log is read); the end waits, with `get`, until a foreground deletion of the Job is done
 * (its pods are gone).
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { MapRunError } from "./map-error";
import { PINNED_IMAGE_RE } from "./sha256-hex";

type Env = Record<string, string | undefined>;
type Json = Record<string, unknown>;

/** Kueue's label: the LocalQueue a Job waits in (created suspended; Kueue starts it when it admits it). */
export const QUEUE_LABEL = "kueue.x-k8s.io/queue-name";

/** A LocalQueue's name as a label value takes it, or why not. */
export function queueNameProblem(name: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(name)
    ? undefined
    : "expected a LocalQueue name (lower-case letters, digits, '-' and '.', at most 63)";
}

/** On a map's Job and its pods: the Job's name (what `pipeline map` lists the pods by). */
export const MAP_LABEL = "rules-pipeline/map";
/** The map worker every image carries (what a map's pods run: `node MAP_WORKER_IN_IMAGE`). */
export const MAP_WORKER_IN_IMAGE = "/app/node_modules/@rules_pipeline/runtime/map-worker.js";
/** The variable the map's Job template is in (a batch/v1 Job as JSON). */
export const ENV_MAP_JOB = "PIPELINE_MAP_JOB";
/** The pod's own name and uid (downward API), the owner of the maps it makes. */
export const ENV_POD_NAME = "PIPELINE_POD_NAME";
export const ENV_POD_UID = "PIPELINE_POD_UID";
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;
/** The longest wait for the Job's foreground deletion (its pods gone). */
const DELETE_WAIT_MS = 120_000;

/**
 * The indexes of a Job status's `completedIndexes` / `failedIndexes` ("1,3-5,7"), each below `limit`; undefined when
 * the text is not that grammar (a server is not ours).
 */
export function indexesOf(text: string | undefined, limit: number): number[] | undefined {
  if (!text) return [];
  const out: number[] = [];
  for (const part of text.split(",")) {
    const m = /^(\d{1,9})(?:-(\d{1,9}))?$/.exec(part.trim());
    const from = m ? Number(m[1]) : Number.NaN;
    const to = m?.[2] !== undefined ? Number(m[2]) : from;
    if (!m || to < from || to >= limit) return undefined;
    for (let i = from; i <= to; i++) out.push(i);
  }
  return out;
}

export interface ClusterApi {
  /** `https://HOST:PORT`, for messages. */
  where: string;
  call(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ status: number; body: Json }>;
}

/** The API server as this pod's ServiceAccount (its token read at every call: bound tokens rotate). */
export function inClusterApi(env: Env, dir: string = SERVICE_ACCOUNT_DIR): ClusterApi {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT || "443";
  if (!host)
    throw new MapRunError(
      "E_MAP_TARGET",
      "runMap on kubernetes from inside a container: KUBERNETES_SERVICE_HOST is not set, this is not a pod of a cluster (set PIPELINE_TARGET=inprocess to map on this container's threads)",
    );
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch {
      throw new MapRunError(
        "E_MAP_TARGET",
        `runMap on kubernetes from inside a pod: ${join(dir, name)} cannot be read: the pod has no ServiceAccount token (run it with --service-account NAME, a ServiceAccount allowed to create, get and delete jobs; docs/scale-out.md)`,
      );
    }
  };
  const ca = read("ca.crt");
  const where = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return {
    where,
    call(method, path, body) {
      const token = read("token").toString("utf8").trim();
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      return new Promise((resolve, reject) => {
        const fail = (why: string) => reject(new MapRunError("E_K8S_API", `${method} ${where}${path}: ${why}`));
        const req = request(
          {
            host,
            port,
            path,
            method,
            ca,
            timeout: REQUEST_TIMEOUT_MS,
            headers: {
              authorization: `Bearer ${token}`,
              accept: "application/json",
              ...(data ? { "content-type": "application/json", "content-length": data.length } : {}),
            },
          },
          (res) => {
            const parts: Buffer[] = [];
            let size = 0;
            res.on("data", (c: Buffer) => {
              size += c.length;
              if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`an answer above ${MAX_RESPONSE_BYTES} bytes`));
              else parts.push(c);
            });
            res.on("error", (e) => fail(e.message));
            res.on("end", () => {
              let parsed: unknown;
              try {
                parsed = JSON.parse(Buffer.concat(parts).toString("utf8"));
              } catch {
                parsed = {};
              }
              const json = typeof parsed === "object" && parsed !== null ? (parsed as Json) : {};
              resolve({ status: res.statusCode ?? 0, body: json });
            });
          },
        );
        req.on("timeout", () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
        req.on("error", (e) => fail(e.message));
        req.end(data);
      });
    },
  };
}

/** The Job template of PIPELINE_MAP_JOB, checked: a batch/v1 Job whose one container runs an image by digest. */
export function parseTemplate(text: string | undefined): { job: Json; image: string; namespace: string } {
  const bad = (why: string) =>
    new MapRunError(
      "E_MAP_TARGET",
      `runMap on kubernetes from inside a pod: ${ENV_MAP_JOB} ${why}: the pod was not started by \`pipeline run --on kubernetes\` or runOnKubernetes() of this version (set PIPELINE_TARGET=inprocess to map on this pod's threads)`,
    );
  if (!text) throw bad("is not set");
  let job: Json;
  try {
    job = JSON.parse(text) as Json;
  } catch {
    throw bad("is not JSON");
  }
  const meta = job?.metadata as Json | undefined;
  const pod = ((job?.spec as Json | undefined)?.template as Json | undefined)?.spec as Json | undefined;
  const containers = pod?.containers;
  const image = Array.isArray(containers) ? (containers[0] as Json | undefined)?.image : undefined;
  if (job?.apiVersion !== "batch/v1" || job?.kind !== "Job" || !Array.isArray(containers) || containers.length !== 1)
    throw bad("is not a batch/v1 Job with one container");
  if (typeof image !== "string" || !PINNED_IMAGE_RE.test(image)) throw bad("does not run an image by digest");
  if (typeof meta?.namespace !== "string" || typeof meta?.generateName !== "string")
    throw bad("has no namespace or generateName");
  return { job, image, namespace: meta.namespace };
}

export interface ClusterJobOptions {
  /** From parseTemplate. */
  template: Json;
  namespace: string;
  /** The pod this runs in: the Job's owner. */
  owner?: { name: string; uid: string };
  indexes: number;
  parallelism: number;
  retries: number;
  /** The worker's variables (the store, the plan). */
  env: Record<string, string>;
  /** Per-call resources of the map's pods (request = limit), as `pipeline map --cpu/--memory/--gpu`. */
  resources?: { cpu?: string; memory?: string; gpu?: number };
  /** A Kueue LocalQueue: the Job is created suspended with its label, and Kueue starts it. */
  queue?: string;
}

/** The map's Job, made from the template: named, sized, owned, its worker told the store and the plan. */
export function clusterJob(o: ClusterJobOptions, suffix: string = randomBytes(4).toString("hex").slice(0, 5)): Json {
  const job = structuredClone(o.template);
  const meta = job.metadata as Json;
  const base = String(meta.generateName).replace(/-$/, "");
  const name = `${meta.generateName}${suffix}`;
  delete meta.generateName;
  meta.name = name;
  // The labels that name the Job (the template's base name) name this one, as mapJob names them.
  const named = (labels: unknown): Json =>
    Object.fromEntries(Object.entries((labels ?? {}) as Json).map(([k, v]) => [k, v === base ? name : v]));
  meta.labels = { ...named(meta.labels), [MAP_LABEL]: name, ...(o.queue ? { [QUEUE_LABEL]: o.queue } : {}) };
  if (o.owner)
    meta.ownerReferences = [{ apiVersion: "v1", kind: "Pod", name: o.owner.name, uid: o.owner.uid, controller: false }];
  const spec = job.spec as Json;
  const template = spec.template as Json;
  const tmeta = (template.metadata ?? {}) as Json;
  template.metadata = { ...tmeta, labels: { ...named(tmeta.labels), [MAP_LABEL]: name } };
  const container = ((template.spec as Json).containers as Json[])[0];
  const env = Array.isArray(container.env) ? (container.env as { name: string }[]) : [];
  container.env = [
    ...env.filter((e) => !(e.name in o.env)),
    ...Object.entries(o.env).map(([n, value]) => ({ name: n, value })),
  ];
  const r = o.resources ?? {};
  if (r.cpu !== undefined || r.memory !== undefined || r.gpu !== undefined) {
    const res = (container.resources ?? {}) as { requests?: Json; limits?: Json };
    const set = (key: string, v: string | undefined) => {
      if (v === undefined) return;
      res.requests = { ...res.requests, [key]: v };
      res.limits = { ...res.limits, [key]: v };
    };
    set("cpu", r.cpu);
    set("memory", r.memory);
    if (r.gpu !== undefined) res.limits = { ...res.limits, "nvidia.com/gpu": String(r.gpu) };
    container.resources = res;
  }
  if (o.queue) spec.suspend = true;
  spec.completions = o.indexes;
  spec.parallelism = Math.min(o.parallelism, o.indexes);
  spec.backoffLimitPerIndex = o.retries;
  return job;
}

export interface JobEnd {
  ok: boolean;
  /** The indexes that failed for good (a failed Job). */
  failedIndexes: number[];
  /** The pods that failed (every attempt that did not succeed). */
  failedPods: number;
  /** The Failed condition's reason and message. */
  why: string;
}

/** One Job of a map on the cluster, from its creation to its deletion. */
export class ClusterJob {
  readonly name: string;
  private readonly path: string;

  private constructor(
    private readonly api: ClusterApi,
    namespace: string,
    name: string,
  ) {
    this.name = name;
    this.path = `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs`;
  }

  /** Creates the Job; a ServiceAccount that may not is E_MAP_TARGET naming the RBAC it needs. */
  static async create(api: ClusterApi, namespace: string, job: Json): Promise<ClusterJob> {
    const name = String((job.metadata as Json).name);
    const self = new ClusterJob(api, namespace, name);
    const r = await api.call("POST", self.path, job);
    if (r.status === 403)
      throw new MapRunError(
        "E_MAP_TARGET",
        `runMap on kubernetes from inside a pod: the pod's ServiceAccount may not create Jobs in namespace ${namespace} (${statusMessage(r.body)}): give it a Role with create, get and delete on jobs (docs/scale-out.md, "From inside a pod")`,
      );
    if (r.status !== 201) throw apiError("POST", `${self.path}`, r);
    return self;
  }

  /** Waits for the Job's end, calling `progress` with its completed indexes at every poll. */
  async wait(
    o: { indexes: number; intervalMs: number; signal: AbortSignal },
    progress: (completed: number, failedPods: number) => void,
  ): Promise<JobEnd> {
    for (;;) {
      if (o.signal.aborted) throw new MapRunError("E_ABORTED", "interrupted: the map was stopped");
      const r = await this.api.call("GET", `${this.path}/${this.name}`);
      if (r.status === 404)
        throw new MapRunError("E_MAP_TARGET", `the map's Job ${this.name} was deleted while it ran (by someone else)`);
      if (r.status !== 200) throw apiError("GET", `${this.path}/${this.name}`, r);
      const status = (r.body.status ?? {}) as Json;
      const completed = indexesOf(status.completedIndexes as string | undefined, o.indexes);
      const failed = indexesOf(status.failedIndexes as string | undefined, o.indexes);
      if (!completed || !failed)
        throw new MapRunError(
          "E_K8S_API",
          `the Job ${this.name}'s status does not list indexes below ${o.indexes}: ${JSON.stringify(status).slice(0, 200)}`,
        );
      const failedPods = typeof status.failed === "number" ? status.failed : 0;
      progress(completed.length, failedPods);
      const conditions = Array.isArray(status.conditions) ? (status.conditions as Json[]) : [];
      const ended = conditions.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
      if (ended)
        return {
          ok: ended.type === "Complete",
          failedIndexes: failed,
          failedPods,
          why: [ended.reason, ended.message].filter((s) => typeof s === "string" && s).join(": "),
        };
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, o.intervalMs);
        function done() {
          clearTimeout(t);
          o.signal.removeEventListener("abort", done);
          resolve();
        }
        o.signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Deletes the Job in the foreground and waits until it is gone: its pods are gone then. */
  async remove(): Promise<void> {
    const r = await this.api.call("DELETE", `${this.path}/${this.name}`, {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Foreground",
    });
    if (r.status === 404) return;
    if (r.status !== 200 && r.status !== 202) throw apiError("DELETE", `${this.path}/${this.name}`, r);
    const until = Date.now() + DELETE_WAIT_MS;
    while (Date.now() < until) {
      const g = await this.api.call("GET", `${this.path}/${this.name}`);
      if (g.status === 404) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new MapRunError(
      "E_MAP_TARGET",
      `the map's Job ${this.name} was deleted but its pods were not gone after ${DELETE_WAIT_MS / 1000} s`,
    );
  }
}

function statusMessage(body: Json): string {
  return typeof body.message === "string" ? body.message.slice(0, 300) : "no message";
}

function apiError(method: string, path: string, r: { status: number; body: Json }): MapRunError {
  return new MapRunError("E_K8S_API", `${method} ${path}: HTTP ${r.status}: ${statusMessage(r.body)}`);
}
