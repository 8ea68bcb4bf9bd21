/**
 * After `deploy --apply` applies an admission policy, waiting until the engine has loaded it, before the workload it
 * admits is applied. Without the wait, the API server may call the engine's webhook for the workload before the engine
 * knows the new policy: sigstore policy-controller then denies it with "no matching policies" (about 1 apply in 4
 * on the test cluster, test/e2e/k8s-real-admission.test.ts).
 *
 * sigstore policy-controller (v0.13.1, pkg/reconciler/clusterimagepolicy): its ClusterImagePolicy reconciler compiles
 * the policy into the ConfigMap `config-image-policies` of the engine's namespace, which its webhook reads, and only
 * then does knative's reconciler write the policy's status: `observedGeneration` (set whether or not the reconcile
 * succeeded) and the `Ready` condition (True once the keys and policies are inlined and the ConfigMap updated). So the
 * applied generation observed with Ready True means the webhook's configuration holds this version of the policy, in
 * whatever namespace the engine runs; Ready False at that generation is the engine refusing the policy, reported at
 * once with the engine's reason. Each engine's reading of its status is its module's (src/admission/engines.ts).
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { engineOfPolicy } from "../admission/engines";
import type { PolicyState } from "../admission/shared";
import { PipelineError } from "../errors";
import { apiError, type K8sClient } from "./api-client";
import { describeObject } from "./render";

export interface AdmissionWait {
  /** How long to wait for the engine (default 60 s). */
  timeoutMs?: number;
  /** Between reads of the policy (default 500 ms). */
  intervalMs?: number;
}

/** Whether `o` is an admission engine's policy (src/admission/engines.ts), which `deploy --apply` waits for. */
export function needsEngine(o: KubernetesObject): boolean {
  return engineOfPolicy(o) !== undefined;
}

/**
 * Polls the applied policy `o` (metadata.generation `generation`, as the apply returned it) until its engine has
 * loaded it; a PipelineError E_K8S_ADMISSION names the policy when the engine refuses it or time runs out.
 */
export async function waitForPolicyLoaded(
  client: K8sClient,
  o: KubernetesObject,
  generation: number | undefined,
  opts: AdmissionWait & { sensitive?: readonly string[] } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 500;
  const deadline = Date.now() + timeoutMs;
  const what = describeObject(o);
  const engine = engineOfPolicy(o);
  if (!engine) return;
  let last: PolicyState = { loaded: false, status: "not read yet" };
  for (;;) {
    let read: KubernetesObject;
    try {
      read = await client.api.read({
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata?.name ?? "" },
      });
    } catch (e) {
      throw apiError("read", o, e, client, opts.sensitive ?? []);
    }
    last = engine.loaded(read, generation ?? 1);
    if (last.loaded) return;
    if (last.failed)
      throw new PipelineError(
        "E_K8S_ADMISSION",
        `${what}: the admission engine (${engine.title}) did not load the policy: ${last.failed}`,
      );
    if (Date.now() + intervalMs > deadline)
      throw new PipelineError(
        "E_K8S_ADMISSION",
        `${what}: the admission engine (${engine.title}) has not loaded the policy after ` +
          `${timeoutMs / 1000} s (${last.status}); the workload was not applied. Is the engine running ` +
          `on the cluster at ${client.where}?`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
