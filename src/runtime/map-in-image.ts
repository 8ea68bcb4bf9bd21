/**
 * runMap inside an image (docs/scale-out.md, "From inside a pod"): in a container or pod that runInContainer,
 * runOnKubernetes or `pipeline run` started, where there is no `pipeline` CLI, the same call is made with the
 * runtime's own map code: on this container's threads (`inprocess`, map-threads.ts) or, in a pod that `pipeline run
 * --on kubernetes` made, on an Indexed Job of its own (`kubernetes`, map-cluster.ts). Items are stored, the plan made
 * and results read as `pipeline map` does (map-plan.ts), so results agree and each reuses what the other stored.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { isAbsolute, join, relative, sep } from "node:path";
import {
  ClusterJob,
  clusterJob,
  ENV_MAP_JOB,
  ENV_POD_NAME,
  ENV_POD_UID,
  inClusterApi,
  parseTemplate,
  queueNameProblem,
  type ClusterApi,
} from "./map-cluster";
import { encodeValue, type MapTask, type MapValue, MapValueError } from "./map-codec";
import type { ItemFailure } from "./map-chunk";
import { MapRunError } from "./map-error";
import { failureCode, failureMessage, planMap, readFailure, readResults } from "./map-plan";
import { openStore } from "./map-store";
import { checkTaskLoads, runInThreads, type ThreadsFailure } from "./map-threads";
import { ItemWriter } from "./map-items";
import { type ObjectStore, ObjectStoreError } from "./object-store";

type Env = Record<string, string | undefined>;

/** Pods at once on a cluster unless told (as `pipeline map --on kubernetes`). */
const DEFAULT_KUBERNETES_PARALLELISM = 10;

export interface InImageMapOptions {
  on: "inprocess" | "kubernetes";
  /** The task module's file (absolute, in this image) and its export. */
  file: string;
  export: string;
  /** Where task modules' paths start (`/app` in images). */
  appRoot: string;
  items: readonly unknown[];
  /** A directory or s3://BUCKET/PREFIX (default: $PIPELINE_ARTIFACTS, else a directory under the temporary one). */
  artifacts?: string;
  parallelism?: number;
  retries?: number;
  chunkSize?: number;
  timeoutMs: number;
  maxValueBytes: number;
  resources?: { cpu?: string; memory?: string; gpu?: number };
  /** A Kueue LocalQueue for the map's Job. */
  queue?: string;
  env: Env;
  signal: AbortSignal;
  /** Progress and retries, one line each. */
  log(line: string): void;
  /** The cluster (default: this pod's ServiceAccount); tests give their own. */
  api?: ClusterApi;
  intervalMs?: number;
}

export async function mapInImage(o: InImageMapOptions): Promise<MapValue[]> {
  try {
    return await mapInImageUnchecked(o);
  } catch (e) {
    if (e instanceof ObjectStoreError)
      throw new MapRunError(e.code === "E_MAP_STORE" ? "E_MAP_STORE" : "E_MAP_ITEM", e.message);
    throw e;
  }
}

async function mapInImageUnchecked(o: InImageMapOptions): Promise<MapValue[]> {
  const module = relative(o.appRoot, o.file);
  if (module.startsWith(`..${sep}`) || module === ".." || isAbsolute(module))
    throw new MapRunError(
      "E_MAP_TASK_NOT_FOUND",
      `task ${o.file} is outside the pipeline's app root ${o.appRoot}: a task must be part of the pipeline's code (its image)`,
    );
  const task: MapTask = { module: module.split(sep).join("/"), export: o.export };
  const what = `task ${task.module}#${task.export}`;
  const cluster = o.on === "kubernetes" ? parseTemplate(o.env[ENV_MAP_JOB]) : undefined;
  const queueProblem = o.queue === undefined ? undefined : queueNameProblem(o.queue);
  if (queueProblem)
    throw new MapRunError("E_MAP_TARGET", `kubernetes.queue: ${queueProblem}, got ${JSON.stringify(o.queue)}`);
  const location = o.artifacts ?? o.env.PIPELINE_ARTIFACTS ?? join(tmpdir(), "rules_pipeline-maps");
  if (cluster && !location.startsWith("s3://"))
    throw new MapRunError(
      "E_MAP_TARGET",
      `runMap on kubernetes: the map's pods share nothing but an S3 store, and artifacts is ${JSON.stringify(location)}: pass artifacts: "s3://BUCKET/PREFIX" or set PIPELINE_ARTIFACTS (or PIPELINE_TARGET=inprocess to map on this pod's threads)`,
    );
  // This pod runs the image the map's pods run: the task is checked here, and results are keyed by that image.
  await checkTaskLoads(o.file, o.export, what);
  const code = cluster
    ? `image:${cluster.image.slice(cluster.image.lastIndexOf("@") + 1)}`
    : `file:sha256:${createHash("sha256").update(readFileSync(o.file)).digest("hex")}`;
  const store = await openStore(location, o.env, "artifacts");
  await store.check();
  const { digests, inline } = await storeValues(store, o.items, o.maxValueBytes);
  const parallelism = o.parallelism ?? (cluster ? DEFAULT_KUBERNETES_PARALLELISM : availableParallelism());
  const retries = o.retries ?? 2;
  if (!Number.isInteger(parallelism) || parallelism < 1 || !Number.isInteger(retries) || retries < 0)
    throw new MapRunError(
      "E_BAD_OPTION",
      `parallelism, retries: expected whole numbers ≥ 1 and ≥ 0, got ${parallelism}, ${retries}`,
    );
  const planned = await planMap({
    store,
    code,
    task,
    digests,
    inline,
    parallelism,
    chunkSize: o.chunkSize ?? 0,
    timeoutMs: o.timeoutMs,
    maxValueBytes: o.maxValueBytes,
  });
  if (planned.planHex) {
    const run = { store, plan: planned.plan, planHex: planned.planHex, what, parallelism, retries, signal: o.signal };
    const failed = cluster
      ? await onCluster(o, run, cluster, location)
      : await runInThreads({
          ...run,
          file: o.file,
          retry: (index, attempt, message) => o.log(`map: index ${index}: attempt ${attempt + 1} after: ${message}`),
        });
    if (failed) {
      const f = failed.failure;
      throw new MapRunError(
        failureCode(f),
        failureMessage(
          what,
          f ? `item ${f.index}` : "an index",
          failed.attempts,
          f ? f.message : failed.message,
          failed.log,
        ),
      );
    }
  }
  const out: MapValue[] = new Array(digests.length);
  await readResults({ store, code, task, maxValueBytes: o.maxValueBytes }, digests, (v, i) => {
    out[i] = v;
  });
  return out;
}

/** The items encoded and handed to an ItemWriter (map-items.ts): their digests in order, the small ones kept. */
async function storeValues(store: ObjectStore, items: readonly unknown[], maxBytes: number): Promise<ItemWriter> {
  const writer = new ItemWriter(store);
  try {
    for (const [i, value] of items.entries()) {
      let bytes: Buffer;
      try {
        bytes = encodeValue(value);
      } catch (e) {
        if (!(e instanceof MapValueError)) throw e;
        throw new MapRunError("E_MAP_ITEM", `item ${i}: ${e.path.replace(/^\$/, "item")}: ${e.why}`);
      }
      if (bytes.length > maxBytes)
        throw new MapRunError(
          "E_MAP_ITEM",
          `item ${i}: ${bytes.length} bytes, above the limit of ${maxBytes} (maxItemSize)`,
        );
      await writer.add(bytes);
    }
    await writer.finish();
  } finally {
    await writer.settle();
  }
  return writer;
}

/** The plan's indexes as an Indexed Job of this cluster; the failed index's item and its stored failure. */
async function onCluster(
  o: InImageMapOptions,
  run: {
    store: ObjectStore;
    plan: { chunks: [number, number][]; indices: number[] };
    planHex: string;
    parallelism: number;
    retries: number;
  },
  cluster: ReturnType<typeof parseTemplate>,
  location: string,
): Promise<ThreadsFailure | undefined> {
  const api = o.api ?? inClusterApi(o.env);
  const indexes = run.plan.chunks.length;
  const podName = o.env[ENV_POD_NAME];
  const podUid = o.env[ENV_POD_UID];
  const storeEnv: Record<string, string> = { PIPELINE_MAP_STORE: location, PIPELINE_MAP_PLAN: run.planHex };
  for (const name of ["AWS_REGION", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
    if (o.env[name]) storeEnv[name] = o.env[name]!;
  const job = clusterJob({
    template: cluster.job,
    namespace: cluster.namespace,
    owner: podName && podUid ? { name: podName, uid: podUid } : undefined,
    indexes,
    parallelism: run.parallelism,
    retries: run.retries,
    env: storeEnv,
    resources: o.resources,
    queue: o.queue,
  });
  const created = await ClusterJob.create(api, cluster.namespace, job);
  o.log(
    `map: Job ${cluster.namespace}/${created.name}: created (${run.plan.indices.length} items, ${indexes} indexes, ${Math.min(run.parallelism, indexes)} at once)`,
  );
  let shown = -1;
  let shownAt = 0;
  try {
    const end = await created.wait(
      { indexes, intervalMs: o.intervalMs ?? 1000, signal: o.signal },
      (done, failedPods) => {
        // One line per change, at most every 5 s (and the last one).
        if (done === shown || (done < indexes && Date.now() - shownAt < 5000)) return;
        shown = done;
        shownAt = Date.now();
        o.log(
          `map: ${done}/${indexes} indexes done${failedPods ? `, ${failedPods} failed pod${failedPods === 1 ? "" : "s"} retried` : ""}`,
        );
      },
    );
    if (end.ok) return undefined;
    const index = end.failedIndexes[0];
    let failure: ItemFailure | undefined;
    const range = index === undefined ? undefined : run.plan.chunks[index];
    if (range)
      for (let at = range[0]; at < range[1] && !failure; at++)
        failure = await readFailure(run.store, run.planHex, run.plan.indices[at]);
    return {
      attempts: failure && !failure.retry ? 1 : run.retries + 1,
      failure,
      // The pods' logs go with the Job (a pod's ServiceAccount reads no logs): the stored failure says what failed.
      log: [],
      message: `the Job ${created.name} failed: ${end.why || "no reason given"}`,
    };
  } finally {
    await created.remove();
  }
}
