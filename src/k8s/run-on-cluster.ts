/**
 * One run on Kubernetes, start to end: create the Job (run-job.ts), wait for its pod to start (polling the pods
 * with the run's label), follow the pod's log (run-logs.ts; resumed after a dropped stream), read the
 * container's exit code from the pod's `state.terminated`, then delete the Job with
 * `propagationPolicy=Background` (its pod goes with it) unless `keepJob`. When `signal` aborts (Ctrl-C), the
 * Job is deleted even with keepJob and the run ends with E_ABORTED.
 *
 * Waiting for the pod is bounded by `timeoutMs`: past it, E_K8S_POD_TIMEOUT names the pod, its phase and
 * the reason it is stuck (pod-status.ts: Unschedulable and its message, ImagePullBackOff, ContainerCreating, ...).
 * A pod whose image name is invalid fails at once. The run itself is bounded only by the Job's activeDeadlineSeconds
 * (run-job.ts: the spec's `job:`, else a week), past which the Job controller stops the pod (E_K8S_POD_FAILED).
 */
import type { V1Job } from "@kubernetes/client-node";
import { PipelineError } from "../errors";
import type { KubeHttp } from "./run-api";
import { type Pod, podSituation } from "./pod-status";
import { LogCursor, readLogOnce } from "./run-logs";
import { RUN_CONTAINER, RUN_LABEL } from "./run-job";

export interface RunOnClusterOptions {
  api: KubeHttp;
  /** From runJob(). */
  job: V1Job;
  keepJob?: boolean;
  /** Longest wait for the pod to start. */
  timeoutMs: number;
  /** Pod polling interval (default 1000 ms). */
  intervalMs?: number;
  onLine(text: string): void;
  /** Progress lines (Job created, pod phases, deletion). */
  log(line: string): void;
  signal?: AbortSignal;
}

/** Waits `ms`, or less when `signal` aborts (the caller then checks it). Shared by the map's Job (src/map/kubernetes.ts). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What a run or a map ends with when Ctrl-C or SIGTERM stopped it. */
export function aborted(): PipelineError {
  return new PipelineError("E_ABORTED", "interrupted", { exitCode: 130 });
}

function mainStatus(pod: Pod): Pod | undefined {
  return (pod.status?.containerStatuses ?? []).find((c: { name?: string }) => c.name === RUN_CONTAINER);
}

function started(pod: Pod | undefined): boolean {
  const st = mainStatus(pod ?? {})?.state;
  return Boolean(
    pod && (st?.running || st?.terminated || ["Running", "Succeeded", "Failed"].includes(pod.status?.phase)),
  );
}

export async function runOnCluster(o: RunOnClusterOptions): Promise<{ exitCode: number; pod: string }> {
  const ns = o.job.metadata!.namespace!;
  const name = o.job.metadata!.name!;
  const what = `Job ${ns}/${name}`;
  const jobPath = `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs`;
  await o.api.json("POST", jobPath, { verb: "create", resource: "jobs", namespace: ns, name }, { body: o.job });
  o.log(`${what}: created`);
  let outcome: { ok: true; value: { exitCode: number; pod: string } } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await follow(o, ns, name) };
  } catch (e) {
    outcome = { ok: false, error: o.signal?.aborted ? aborted() : e };
  }
  // Interrupted: the Job goes even with --keep-job (nobody is left to watch it).
  if (!o.keepJob || o.signal?.aborted) {
    try {
      await o.api.json(
        "DELETE",
        `${jobPath}/${encodeURIComponent(name)}`,
        { verb: "delete", resource: "jobs", namespace: ns, name },
        { query: { propagationPolicy: "Background" } },
      );
      o.log(`${what}: deleted`);
    } catch (e) {
      // Gone already (kubectl delete, the TTL controller): what was to be done is done.
      if (e instanceof PipelineError && e.code === "E_K8S_NOT_FOUND") o.log(`${what}: already deleted`);
      // A failed delete must not hide why the run itself failed: that error wins, the delete's is logged.
      else if (outcome.ok) throw e;
      else o.log(`${what}: could not be deleted: ${e instanceof Error ? e.message : String(e)}`);
    }
  } else o.log(`${what}: kept (--keep-job): kubectl delete job -n ${ns} ${name}`);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

async function findPod(o: RunOnClusterOptions, ns: string, name: string): Promise<Pod | undefined> {
  const list = await o.api.json(
    "GET",
    `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
    { verb: "list", resource: "pods", namespace: ns },
    { query: { labelSelector: `${RUN_LABEL}=${name}` }, signal: o.signal },
  );
  const items: Pod[] = list.items ?? [];
  // backoffLimit 0: one pod; should the controller have made another, the newest counts.
  return items
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
    )
    .at(-1);
}

async function follow(o: RunOnClusterOptions, ns: string, name: string): Promise<{ exitCode: number; pod: string }> {
  const interval = o.intervalMs ?? 1000;
  const deadline = Date.now() + o.timeoutMs;
  let pod: Pod | undefined;
  let last = "";
  for (;;) {
    if (o.signal?.aborted) throw aborted();
    pod = await findPod(o, ns, name);
    const s = podSituation(pod, RUN_CONTAINER);
    if (started(pod)) break;
    if (s.text !== last) o.log(`${pod ? `pod ${pod.metadata.name}` : `Job ${ns}/${name}`}: ${(last = s.text)}`);
    const where = pod ? `pod ${ns}/${pod.metadata.name}` : `Job ${ns}/${name}'s pod`;
    if (s.fatal) throw new PipelineError("E_K8S_POD_FAILED", `${where} cannot start: ${s.text}`);
    if (Date.now() >= deadline) {
      throw new PipelineError(
        "E_K8S_POD_TIMEOUT",
        `${where} did not start within ${Math.round(o.timeoutMs / 1000)}s (--timeout): ${pod ? `phase ${s.text}` : "the Job controller created no pod"}`,
      );
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), o.signal);
  }
  const podName: string = pod!.metadata.name;
  const cursor = new LogCursor();
  const logs = { namespace: ns, pod: podName, container: RUN_CONTAINER, cursor, onLine: o.onLine, signal: o.signal };
  for (;;) {
    const how = await readLogOnce(o.api, { ...logs, follow: true });
    if (o.signal?.aborted) throw aborted();
    // Wait for the kubelet to report the container's end (the log ends a little before that).
    for (let i = 0; ; i++) {
      const current = await o.api.json(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(podName)}`,
        { verb: "get", resource: "pods", namespace: ns, name: podName },
        { signal: o.signal },
      );
      const terminated = mainStatus(current)?.state?.terminated;
      if (terminated) {
        // Lines written between a broken stream and the end: read what is left once, without following.
        await readLogOnce(o.api, { ...logs, follow: false });
        if (typeof terminated.exitCode !== "number")
          throw new PipelineError(
            "E_K8S_POD_FAILED",
            `pod ${ns}/${podName}: the container ended without an exit code (${terminated.reason ?? "unknown reason"})`,
          );
        return { exitCode: terminated.exitCode, pod: podName };
      }
      if (current.status?.phase === "Failed") {
        throw new PipelineError(
          "E_K8S_POD_FAILED",
          `pod ${ns}/${podName} failed: ${current.status.reason ?? "unknown reason"}${current.status.message ? `: ${current.status.message}` : ""}`,
        );
      }
      if (how === "broken" || i >= 5) break; // still running: follow again from the last line printed
      await sleep(interval, o.signal);
      if (o.signal?.aborted) throw aborted();
    }
    if (how === "broken")
      o.log(`pod ${podName}: the log stream broke; resuming from ${cursor.sinceTime ?? "the start"}`);
  }
}
