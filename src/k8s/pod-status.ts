/**
 * Why a pod is not running yet, in one line, from its status as the API server returns it: the waiting or
 * terminated reason (and the kubelet's message) of its init containers first — an init container that failed
 * or keeps crashing holds the pod back before any main container starts —, then of its containers, then the
 * scheduler's PodScheduled condition. Used by `pipeline run --on kubernetes` while it waits for its Job's pod
 * (E_K8S_POD_TIMEOUT, E_K8S_POD_FAILED) and by the rollout wait of `deploy --apply` (E_K8S_ROLLOUT_TIMEOUT names
 * each pod that is not ready).
 */

// A pod as the API server returns it: read defensively, field by field (the server may omit any of them).
// biome-ignore lint/suspicious/noExplicitAny: untyped JSON from the API server, every read is optional-chained
export type Pod = Record<string, any>;

/** Waiting reasons that will not clear up by waiting. */
const FATAL_WAITING = new Set(["InvalidImageName", "ErrImageNeverPull"]);

/** Waiting reasons that only say the container is on its way (shown, but not worth naming a container for). */
const ON_ITS_WAY = new Set(["PodInitializing"]);

// biome-ignore lint/suspicious/noExplicitAny: untyped JSON from the API server, every read is optional-chained
type ContainerStatus = Record<string, any>;

/** `exit code 128` (`, OOMKilled`, `: message` when the kubelet gives them), for a terminated state. */
export function terminatedText(t: ContainerStatus): string {
  const reason = t.reason && t.reason !== "Error" && t.reason !== "Completed" ? `, ${t.reason}` : "";
  // The message may be the container's last log lines (FallbackToLogsOnError): one line, at most 300 characters.
  let message = String(t.message ?? "")
    .replace(/\s+/g, " ")
    .trim();
  if (message.length > 300) message = `${message.slice(0, 300)}...`;
  return `exit code ${t.exitCode ?? "?"}${reason}${message ? `: ${message}` : ""}`;
}

/**
 * What holds one container up, `REASON: message (last exit code N)`, with the reason alone for `fatal`; undefined
 * when nothing does. An init container that ended badly counts too (under restartPolicy Never it stays
 * terminated; under Always it is restarted and waits in CrashLoopBackOff, its last exit in lastState), and one
 * still running holds the pod back too.
 */
function containerProblem(c: ContainerStatus, init: boolean): { text: string; reason: string } | undefined {
  const waiting = c.state?.waiting;
  if (waiting?.reason && !ON_ITS_WAY.has(waiting.reason)) {
    const last = c.lastState?.terminated;
    return {
      text: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}${last ? ` (last ${terminatedText(last)})` : ""}`,
      reason: waiting.reason,
    };
  }
  if (!init) return undefined;
  const terminated = c.state?.terminated;
  if (terminated && terminated.exitCode !== 0)
    return { text: `failed with ${terminatedText(terminated)}`, reason: terminated.reason ?? "Error" };
  // Still at work (a big model, a slow clone), or trying again after a crash.
  if (c.state?.running) {
    const last = c.lastState?.terminated;
    const again = c.restartCount && last ? ` after ${c.restartCount} restart(s) (last ${terminatedText(last)})` : "";
    return { text: `running${again}`, reason: "Running" };
  }
  return undefined;
}

/**
 * Phase and reason of a pod, e.g. `Pending (ImagePullBackOff: Back-off pulling image "x")` or
 * `Pending (init container clone-0: CrashLoopBackOff: back-off 10s restarting failed container=… (last exit code 128))`.
 * `main` names the container a run follows; without it every container counts. `fatal`: waiting will not help.
 */
export function podSituation(pod: Pod | undefined, main?: string): { text: string; fatal: boolean } {
  if (!pod) return { text: "no pod created yet", fatal: false };
  const phase = pod.status?.phase ?? "Pending";
  for (const c of pod.status?.initContainerStatuses ?? []) {
    const p = containerProblem(c, true);
    if (p) return { text: `${phase} (init container ${c.name}: ${p.text})`, fatal: FATAL_WAITING.has(p.reason) };
  }
  const containers: ContainerStatus[] = (pod.status?.containerStatuses ?? []).filter(
    (c: ContainerStatus) => main === undefined || c.name === main,
  );
  for (const c of containers) {
    const p = containerProblem(c, false);
    const named = containers.length > 1 ? `container ${c.name}: ` : "";
    if (p) return { text: `${phase} (${named}${p.text})`, fatal: FATAL_WAITING.has(p.reason) };
  }
  const scheduled = (pod.status?.conditions ?? []).find((c: { type?: string }) => c.type === "PodScheduled");
  if (scheduled && scheduled.status === "False") {
    return {
      text: `${phase} (${scheduled.reason ?? "not scheduled"}${scheduled.message ? `: ${scheduled.message}` : ""})`,
      fatal: false,
    };
  }
  const ready = (pod.status?.conditions ?? []).find((c: { type?: string }) => c.type === "Ready");
  if (phase === "Running" && ready && ready.status === "False") {
    return {
      text: `${phase}, not ready (${ready.reason ?? "not ready"}${ready.message ? `: ${ready.message}` : ""})`,
      fatal: false,
    };
  }
  return { text: phase, fatal: false };
}
