/**
 * Waiting for applied objects to become ready, by polling the object (GET) every `intervalMs`:
 *  - Deployment: the controller has observed the applied generation, and updated = available = replicas
 *    with no old replicas left (kubectl rollout status's rules); `ProgressDeadlineExceeded` fails at once.
 *  - Job: the `Complete` condition (or succeeded >= completions); the `Failed` condition or more failed pods
 *    than backoffLimit fails at once.
 * Other kinds are ready when applied. `onProgress` gets each new status line (the CLI shows them on a TTY).
 * A timeout or failure is a PipelineError naming the object and its last status; a timeout also names each of
 * its pods that is not ready and why (pod-status.ts: the waiting or terminated reasons and messages of its init
 * containers and containers, the scheduler's, the readiness condition's).
 */
import type { V1Deployment, V1Job, V1Pod } from "@kubernetes/client-node";
import { PipelineError } from "../errors";
import { apiError, type K8sClient } from "./api-client";
import type { ApplyResult } from "./apply";
import { podSituation } from "./pod-status";
import { describeObject } from "./render";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  onProgress?: (line: string) => void;
}

type State = { done: true } | { done: false; failed?: string; status: string };

function condition(
  conds: { type: string; status: string; reason?: string; message?: string }[] | undefined,
  type: string,
) {
  return (conds ?? []).find((c) => c.type === type && c.status === "True");
}

export function deploymentState(d: V1Deployment, generation?: number): State {
  const st = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  const gen = generation ?? d.metadata?.generation ?? 0;
  if ((st.observedGeneration ?? -1) < gen)
    return { done: false, status: "waiting for the controller to observe the new spec" };
  const deadline = (st.conditions ?? []).find(
    (c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded",
  );
  if (deadline)
    return {
      done: false,
      failed: `progress deadline exceeded${deadline.message ? `: ${deadline.message}` : ""}`,
      status: "",
    };
  const updated = st.updatedReplicas ?? 0;
  const available = st.availableReplicas ?? 0;
  if (updated < want) return { done: false, status: `${updated} of ${want} new replicas updated` };
  if ((st.replicas ?? 0) > updated)
    return { done: false, status: `${(st.replicas ?? 0) - updated} old replicas pending termination` };
  if (available < updated) return { done: false, status: `${available} of ${updated} updated replicas available` };
  return { done: true };
}

export function jobState(j: V1Job): State {
  const st = j.status ?? {};
  const completions = j.spec?.completions ?? 1;
  const failedCond = condition(st.conditions, "Failed");
  if (failedCond)
    return {
      done: false,
      failed: `${failedCond.reason ?? "Failed"}${failedCond.message ? `: ${failedCond.message}` : ""}`,
      status: "",
    };
  if ((st.failed ?? 0) > (j.spec?.backoffLimit ?? 6))
    return { done: false, failed: `${st.failed} pod(s) failed`, status: "" };
  if (condition(st.conditions, "Complete") || (st.succeeded ?? 0) >= completions) return { done: true };
  return {
    done: false,
    status: `${st.succeeded ?? 0} of ${completions} pods succeeded, ${st.active ?? 0} running, ${st.failed ?? 0} failed`,
  };
}

/** `pod NAME: PHASE (why)` for each pod of `current` (by its selector) that is neither ready nor done; [] when they cannot be read. */
async function podsNotReady(client: K8sClient, current: V1Deployment | V1Job | undefined): Promise<string[]> {
  const labels = current?.spec?.selector?.matchLabels;
  const ns = current?.metadata?.namespace;
  if (!labels || !ns) return [];
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  let pods: V1Pod[];
  try {
    pods = (await client.api.list<V1Pod>("v1", "Pod", ns, undefined, undefined, undefined, undefined, selector)).items;
  } catch {
    return []; // e.g. a user who may apply but not list pods: the timeout's message stands without them
  }
  const ready = (p: V1Pod) => (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  return pods
    .filter((p) => !ready(p) && p.status?.phase !== "Succeeded" && !p.metadata?.deletionTimestamp)
    .map((p) => `pod ${p.metadata?.name}: ${podSituation(p).text}`)
    .sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Transient answers worth polling through (the last one is reported on timeout). */
function transient(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code !== "number" || code >= 500 || code === 429;
}

export async function waitForObject(client: K8sClient, applied: ApplyResult, opts: WaitOptions): Promise<void> {
  const o = applied.object;
  if (o.kind !== "Deployment" && o.kind !== "Job") return;
  const what = describeObject(o);
  const deadline = Date.now() + opts.timeoutMs;
  let last = "not read yet";
  let current: V1Deployment | V1Job | undefined;
  for (;;) {
    let state: State | undefined;
    try {
      current = await client.api.read({
        apiVersion: o.apiVersion!,
        kind: o.kind,
        metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace! },
      });
      state =
        o.kind === "Deployment"
          ? deploymentState(current as V1Deployment, applied.generation)
          : jobState(current as V1Job);
    } catch (e) {
      if (!transient(e)) throw apiError("read", o, e, client, []);
      last = apiError("read", o, e, client, []).message;
    }
    if (state?.done) {
      opts.onProgress?.(`${what}: ready`);
      return;
    }
    if (state?.failed) {
      throw new PipelineError(
        o.kind === "Job" ? "E_K8S_JOB_FAILED" : "E_K8S_ROLLOUT_FAILED",
        `${what} failed: ${state.failed}`,
      );
    }
    if (state && state.status !== last) {
      last = state.status;
      opts.onProgress?.(`${what}: ${last}`);
    }
    if (Date.now() >= deadline) {
      const pods = await podsNotReady(client, current);
      throw new PipelineError(
        "E_K8S_ROLLOUT_TIMEOUT",
        `${what} was not ready within ${Math.round(opts.timeoutMs / 1000)}s (--timeout); last status: ${last}${pods.map((p) => `\n  ${p}`).join("")}`,
      );
    }
    await sleep(Math.min(opts.intervalMs ?? 2000, Math.max(0, deadline - Date.now())));
  }
}

/** Waits for every applied Deployment and Job, in order. */
export async function waitForRollout(
  client: K8sClient,
  applied: readonly ApplyResult[],
  opts: WaitOptions,
): Promise<void> {
  const start = Date.now();
  for (const a of applied) {
    await waitForObject(client, a, { ...opts, timeoutMs: Math.max(0, opts.timeoutMs - (Date.now() - start)) });
  }
}
