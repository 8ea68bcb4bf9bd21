/**
 * The `kubernetes` target of a map: one Indexed Job per call (src/k8s/map-job.ts), its pods running the map worker
 * of the pipeline's image by digest, each on one chunk of the stored plan (JOB_COMPLETION_INDEX), the store in
 * S3-compatible object storage (a directory on this machine is not the pods'). Kubernetes does the scheduling the
 * local targets do themselves (schedule.ts): `parallelism` pods at once, `backoffLimitPerIndex` retries per index,
 * disruptions ignored, exit code 42 failing an index at once, the first index failed for good failing the Job.
 *
 * What this side does: creates the Job suspended, then the Secret with the store's credential (owned by the Job, so
 * Kubernetes' garbage collector removes it with the Job), then starts the Job; polls the Job's status (one GET per
 * interval, whatever the number of pods: `completedIndexes` is the progress, the `Complete` or `Failed` condition the
 * end); lists the pods only when something needs explaining (no pod running yet: why, as `pipeline run --on
 * kubernetes` says it; a pod failed: which item, its error, the last lines of its log). At the end, and on Ctrl-C or
 * SIGTERM, the Job is deleted with its pods (and, with it, the Secret) and the call waits until its pods are gone.
 */
import type { V1Job } from "@kubernetes/client-node";
import { PipelineError } from "../errors";
import type { ResolvedDeployment } from "../deploy/types";
import { INDEX_FAILURES_ANNOTATION, INDEX_LABEL, MAP_LABEL, mapJob, mapSecret, parseIndexes } from "../k8s/map-job";
import { type Pod, podSituation, terminatedText } from "../k8s/pod-status";
import type { KubeHttp } from "../k8s/run-api";
import { RUN_CONTAINER, runJobName } from "../k8s/run-job";
import { aborted, sleep } from "../k8s/run-on-cluster";
import { EXIT_NOT_RETRIABLE } from "../runtime/map-chunk";
import { MAP_WORKER_IN_IMAGE } from "../runtime/map-cluster";
import { DirStore } from "../runtime/map-store-dir";
import type { MapRun, MapTarget, TargetFailure } from "./target";
import { lastItemOf, readFailure } from "./worker-output";

/** The store's variables that are secret: they go to the pods through the call's Secret, never in the Job. */
const SECRET_VARS = new Set(["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]);
const TAIL_LINES = 20;
/** How long the call waits, after deleting its Job, for the pods to be gone. */
const GONE_WAIT_MS = 120_000;

export interface KubernetesTargetOptions {
  api: KubeHttp;
  namespace: string;
  /** The pods' image by digest and settings (a spec's resources, machine type, GPUs, Pod Security, pull secret). */
  deployment: ResolvedDeployment;
  /** What the Job's name starts with. */
  name: string;
  /** What a worker needs to open the S3 store (its credential, endpoint, region). */
  storeEnv: Record<string, string>;
  serviceAccount?: string;
  keepJob?: boolean;
  /** A Kueue LocalQueue (--queue): the Job waits there, suspended, until Kueue admits it. */
  queue?: string;
  /** Longest wait for a first pod to run (and, after, for any progress while no pod runs). */
  podTimeoutMs: number;
  intervalMs: number;
  /** Checks that the image holds the task's module and the map worker (image-check.ts). */
  checkImage(module: string, what: string): Promise<void>;
  log: (line: string) => void;
}

type JobCondition = { type?: string; status?: string; reason?: string; message?: string };

export function kubernetesTarget(o: KubernetesTargetOptions): MapTarget {
  const ns = o.namespace;
  const jobs = `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs`;
  const pods = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
  const secrets = `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`;

  async function listPods(selector: string, signal?: AbortSignal): Promise<Pod[]> {
    const list = await o.api.json(
      "GET",
      pods,
      { verb: "list", resource: "pods", namespace: ns },
      { query: { labelSelector: selector }, signal },
    );
    return (list.items ?? []) as Pod[];
  }

  /** The last lines of a pod's log (stdout and stderr as the kubelet keeps them), bounded. */
  async function logOf(pod: string): Promise<string[]> {
    const res = await o.api.stream(
      `${pods}/${encodeURIComponent(pod)}/log`,
      { verb: "get", resource: "pods/log", namespace: ns, name: pod },
      { container: RUN_CONTAINER, tailLines: "400", limitBytes: String(256 * 1024) },
    );
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
  }

  return {
    name: "kubernetes",
    async check(run: MapRun): Promise<void> {
      if (run.store instanceof DirStore)
        throw new PipelineError(
          "E_MAP_TARGET",
          `--on kubernetes: the store ${run.store.where} is a directory on this machine, which the pods cannot reach: give --artifacts s3://BUCKET/PREFIX`,
        );
      await o.checkImage(run.plan.task.module, run.what);
    },

    async run(run: MapRun): Promise<TargetFailure | undefined> {
      const name = runJobName(`map-${o.name}`);
      const what = `Job ${ns}/${name}`;
      const secret = Object.fromEntries(Object.entries(o.storeEnv).filter(([k]) => SECRET_VARS.has(k)));
      const plain = Object.fromEntries(Object.entries(o.storeEnv).filter(([k]) => !SECRET_VARS.has(k)));
      const hasSecret = Object.keys(secret).length > 0;
      const job = mapJob({
        name,
        namespace: ns,
        deployment: o.deployment,
        command: ["node", MAP_WORKER_IN_IMAGE],
        indexes: run.plan.chunks.length,
        parallelism: run.parallelism,
        retries: run.retries,
        env: { ...plain, PIPELINE_MAP_STORE: run.store.where, PIPELINE_MAP_PLAN: run.planHex },
        secretEnv: Object.keys(secret),
        serviceAccount: o.serviceAccount,
        suspend: hasSecret,
        queue: o.queue,
      });
      const created = await o.api.json<V1Job>(
        "POST",
        jobs,
        { verb: "create", resource: "jobs", namespace: ns, name },
        { body: job },
      );
      o.log(`${what}: created (${run.plan.chunks.length} indexes, ${job.spec!.parallelism} at once)`);
      let outcome: { ok: true; value: TargetFailure | undefined } | { ok: false; error: unknown };
      try {
        if (hasSecret) {
          const uid = created.metadata?.uid;
          if (!uid) throw new PipelineError("E_K8S_API", `${what}: the API server's answer has no metadata.uid`);
          await o.api.json(
            "POST",
            secrets,
            { verb: "create", resource: "secrets", namespace: ns, name },
            { body: mapSecret(job, secret, { uid }) },
          );
          // With a queue, Kueue starts the Job when it admits it.
          if (o.queue === undefined)
            await o.api.json(
              "PATCH",
              `${jobs}/${encodeURIComponent(name)}`,
              { verb: "patch", resource: "jobs", namespace: ns, name },
              { body: { spec: { suspend: false } }, contentType: "application/merge-patch+json" },
            );
        }
        outcome = { ok: true, value: await watch(run, name) };
      } catch (e) {
        outcome = { ok: false, error: run.signal.aborted ? aborted() : e };
      }
      const keep = o.keepJob && !run.signal.aborted;
      try {
        if (keep) o.log(`${what}: kept (--keep-job): kubectl delete job -n ${ns} ${name}`);
        else await remove(name, what);
        // The credential goes now even when the Job stays (its pods are done with it).
        if (hasSecret) await removeObject(secrets, "secrets", name);
      } catch (e) {
        if (outcome.ok) throw e;
        o.log(`${what}: could not be deleted: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },
  };

  /** DELETEs an object of the map's; one already gone (kubectl, the TTL or garbage collector) is what was asked. */
  async function removeObject(path: string, resource: "jobs" | "secrets", name: string, query = {}): Promise<void> {
    try {
      await o.api.json(
        "DELETE",
        `${path}/${encodeURIComponent(name)}`,
        { verb: "delete", resource, namespace: ns, name },
        { query },
      );
    } catch (e) {
      if (!(e instanceof PipelineError && e.code === "E_K8S_NOT_FOUND")) throw e;
    }
  }

  async function remove(name: string, what: string): Promise<void> {
    await removeObject(jobs, "jobs", name, { propagationPolicy: "Background" });
    // Its pods end with it (SIGTERM, then the grace period): the call returns when none is left.
    const deadline = Date.now() + GONE_WAIT_MS;
    for (;;) {
      const left = await listPods(`${MAP_LABEL}=${name}`);
      if (!left.length) break;
      if (Date.now() > deadline) {
        o.log(`${what}: deleted; ${left.length} pod(s) still stopping`);
        return;
      }
      await sleep(Math.min(o.intervalMs, 1000));
    }
    o.log(`${what}: deleted`);
  }

  /** Polls the Job until it is Complete (undefined) or Failed (why); progress from its completed indexes. */
  async function watch(run: MapRun, name: string): Promise<TargetFailure | undefined> {
    const total = run.plan.chunks.length;
    const reported = new Set<number>();
    const attempts = new Set<string>();
    let failedCount = 0;
    let unexplained = 0;
    let deadline = Date.now() + o.podTimeoutMs;
    let last = "";
    // "no pod created yet" is worth a line only when it lasts: at the start, and after each index done (the last pods
    // can end a moment before the Job controller marks the Job Complete).
    let quietUntil = Date.now() + 5000;
    for (;;) {
      if (run.signal.aborted) throw aborted();
      const job = await o.api.json<V1Job>(
        "GET",
        `${jobs}/${encodeURIComponent(name)}`,
        { verb: "get", resource: "jobs", namespace: ns, name },
        { signal: run.signal },
      );
      const st = job.status ?? {};
      const before = reported.size;
      for (const i of parseIndexes(st.completedIndexes, "completedIndexes", total)) {
        if (reported.has(i)) continue;
        reported.add(i);
        const [from, to] = run.plan.chunks[i];
        for (let k = from; k < to; k++) run.progress.item({ kind: "done", index: run.plan.indices[k], reused: false });
      }
      // Failed attempts not explained yet (a deleted pod is explained by its successor, which may come later).
      if ((st.failed ?? 0) > failedCount) {
        unexplained += (st.failed ?? 0) - failedCount;
        failedCount = st.failed ?? 0;
      }
      if (unexplained > 0) unexplained = Math.max(0, unexplained - (await reportRetries(run, name, attempts)));
      const conditions = (st.conditions ?? []) as JobCondition[];
      const ended = conditions.find((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
      if (ended?.type === "Complete") {
        if (reported.size !== total)
          throw new PipelineError(
            "E_K8S_API",
            `Job ${ns}/${name} is Complete with ${reported.size} of ${total} indexes in status.completedIndexes`,
          );
        return undefined;
      }
      if (ended) return failureOf(run, name, job, ended);
      if (job.spec?.suspend && o.queue !== undefined) {
        // Waiting in Kueue's queue is not a pod failing to start.
        deadline = Date.now() + o.podTimeoutMs;
        if (last !== "queued") {
          last = "queued";
          o.log(`Job ${ns}/${name}: waiting in Kueue's LocalQueue ${o.queue} (suspended until admitted)`);
        }
      } else if ((st.ready ?? 0) > 0 || reported.size > before) {
        deadline = Date.now() + o.podTimeoutMs;
        if (reported.size > before) quietUntil = Date.now() + 5000;
      } else {
        // Nothing runs: say why (once per change), and give up past the deadline or at a cause that will not clear.
        const waiting = (await listPods(`${MAP_LABEL}=${name}`, run.signal)).filter(
          (p) => !["Succeeded", "Failed"].includes(p.status?.phase),
        );
        const pod = waiting.at(0);
        const s = podSituation(pod, RUN_CONTAINER);
        const where = pod ? `pod ${ns}/${pod.metadata?.name}` : `Job ${ns}/${name}`;
        if (s.text !== last && (pod || Date.now() > quietUntil)) o.log(`${where}: ${(last = s.text)}`);
        if (s.fatal) throw new PipelineError("E_K8S_POD_FAILED", `${where} cannot start: ${s.text}`);
        if (Date.now() > deadline)
          throw new PipelineError(
            "E_K8S_POD_TIMEOUT",
            `${where}: no pod of the map ran within ${Math.round(o.podTimeoutMs / 1000)}s (--pod-timeout): ${pod ? `phase ${s.text}` : "the Job controller created no pod (a ResourceQuota? see kubectl describe job)"}`,
          );
      }
      await sleep(o.intervalMs, run.signal);
    }
  }

  /**
   * One progress line per failed attempt whose index runs again; returns how many failed attempts it found. A pod that
   * ended Failed says why (its exit code, a disruption); one that was deleted is gone from the list, and is found by its
   * successor (Kubernetes' failure count on the index's next pod).
   */
  async function reportRetries(run: MapRun, name: string, seen: Set<string>): Promise<number> {
    let found = 0;
    const all = await listPods(`${MAP_LABEL}=${name}`, run.signal);
    const attemptOf = (p: Pod) => Number(p.metadata?.annotations?.[INDEX_FAILURES_ANNOTATION] ?? 0);
    const first = (p: Pod, attempt: number) => {
      const key = `${p.metadata?.labels?.[INDEX_LABEL]}/${attempt}`;
      if (seen.has(key)) return false;
      seen.add(key);
      found++;
      return true;
    };
    for (const p of all.filter((p) => p.status?.phase === "Failed")) {
      const index = Number(p.metadata?.labels?.[INDEX_LABEL]);
      const before = attemptOf(p);
      if (!first(p, before + 1)) continue;
      const exit = p.status?.containerStatuses?.find((c: Pod) => c.name === RUN_CONTAINER)?.state?.terminated?.exitCode;
      const disrupted = (p.status?.conditions ?? []).some(
        (c: Pod) => c.type === "DisruptionTarget" && c.status === "True",
      );
      if (disrupted)
        run.progress.retry(
          index,
          before + 1,
          `pod ${ns}/${p.metadata?.name} was disrupted (${p.status?.reason ?? "evicted"})`,
        );
      else if (exit !== EXIT_NOT_RETRIABLE && before < run.retries)
        run.progress.retry(index, before + 1, await whyFailed(run, p));
    }
    for (const p of all.filter((p) => p.status?.phase !== "Failed" && attemptOf(p) > 0)) {
      const index = Number(p.metadata?.labels?.[INDEX_LABEL]);
      if (first(p, attemptOf(p)))
        run.progress.retry(
          index,
          attemptOf(p),
          `the index's previous pod ended without a result (deleted, or its node lost); now pod ${ns}/${p.metadata?.name}`,
        );
    }
    return found;
  }

  /** Why the Job failed: the first failed index's item, its error and log, else the Job's own condition. */
  async function failureOf(run: MapRun, name: string, job: V1Job, ended: JobCondition): Promise<TargetFailure> {
    const total = run.plan.chunks.length;
    const failedIndexes = parseIndexes(job.status?.failedIndexes ?? undefined, "failedIndexes", total);
    const condition = `the Job failed (${ended.reason ?? "no reason"}${ended.message ? `: ${ended.message}` : ""})`;
    const index = failedIndexes[0];
    if (index === undefined) return { attempts: 1, log: [], message: condition };
    const tried = (await listPods(`${MAP_LABEL}=${name},${INDEX_LABEL}=${index}`)).sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
    );
    const pod = tried.at(-1);
    if (!pod) return { attempts: 1, log: [], message: `index ${index}: ${condition}` };
    const lines = await logOf(String(pod.metadata?.name)).catch(() => [] as string[]);
    const { current, tail } = lastItemOf(lines, TAIL_LINES);
    const failure = current === undefined ? undefined : await readFailure(run, current);
    if (failure) run.progress.failed(failure);
    const attempts = Number(pod.metadata?.annotations?.[INDEX_FAILURES_ANNOTATION] ?? tried.length - 1) + 1;
    return {
      attempts,
      failure,
      log: tail,
      message: failure?.message ?? exitOf(pod),
    };
  }

  /** A failed pod's exit and why: the stored failure of the item it was on, else its log's last line. */
  async function whyFailed(run: MapRun, p: Pod): Promise<string> {
    const lines = await logOf(String(p.metadata?.name)).catch(() => [] as string[]);
    const { current, tail } = lastItemOf(lines, 1);
    const failure = current === undefined ? undefined : await readFailure(run, current);
    const why = failure ? `item ${current}: ${failure.message}` : tail[0];
    return why ? `${exitOf(p)}: ${why}` : exitOf(p);
  }

  /** `pod NS/NAME exited with exit code 1, OOMKilled`, else its situation. */
  function exitOf(p: Pod): string {
    const t = p.status?.containerStatuses?.find((c: Pod) => c.name === RUN_CONTAINER)?.state?.terminated;
    return `pod ${ns}/${p.metadata?.name} ${t ? `exited with ${terminatedText(t)}` : podSituation(p, RUN_CONTAINER).text}`;
  }
}
