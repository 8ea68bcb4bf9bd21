/**
 * Server-side apply of rendered objects with @kubernetes/client-node: for each object, in order, a PATCH
 * with `Content-Type: application/apply-patch+yaml`, `fieldManager=rules_pipeline` and `force=true` (this
 * tool owns the fields it sets; a conflicting manager's values are taken over). The client discovers the
 * resource's path first (GET /api/v1, /apis/apps/v1, /apis/batch/v1).
 *
 * Errors name the object and the HTTP status and quote the server's Status message with every known
 * secret value scrubbed out; the client's own exception (which carries response bodies and headers) is never
 * attached or printed.
 *
 * Library: @kubernetes/client-node ~1.4 (ESM-only). This package is commonjs on Node 20.20: `require()` of
 * an ES module is on by default since Node 20.19 (no top-level await in its graph, no warning printed), and
 * its types resolve under moduleResolution "node" (it has `types`, no `exports` map). 2.x needs undici 8,
 * i.e. Node >= 22.19, so it is not used; 0.22 (commonjs) depends on the deprecated `request`. Only apply.ts
 * and kubeconfig.ts load it, lazily from the CLI, so `--render` and every other command stay fast.
 */
import { type KubernetesObject, PatchStrategy } from "@kubernetes/client-node";
import { FIELD_MANAGER } from "./names";
import { apiError, type K8sClient } from "./api-client";
import { type AdmissionWait, needsEngine, waitForPolicyLoaded } from "./admission-ready";

export { admissionDenial, apiError, type K8sClient, makeClient } from "./api-client";

export interface ApplyResult {
  object: KubernetesObject;
  /** metadata.generation the server returned (the rollout wait compares status.observedGeneration to it). */
  generation?: number;
}

/**
 * Applies `objects` in order; stops at the first failure. After an admission policy whose engine reports when it has
 * loaded it (sigstore's ClusterImagePolicy), waits for that before the next object (admission-ready.ts): the workload
 * after it would otherwise race the engine.
 */
export async function applyObjects(
  client: K8sClient,
  objects: readonly KubernetesObject[],
  opts: { sensitive?: readonly string[]; onApplied?: (o: KubernetesObject) => void; admission?: AdmissionWait } = {},
): Promise<ApplyResult[]> {
  const out: ApplyResult[] = [];
  for (const o of objects) {
    let res: KubernetesObject;
    try {
      // The client fills a missing namespace and apiVersion into the object it is given: hand it a copy.
      res = await client.api.patch(
        structuredClone(o),
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (e) {
      throw apiError("apply", o, e, client, opts.sensitive ?? []);
    }
    out.push({ object: o, generation: res?.metadata?.generation });
    opts.onApplied?.(o);
    if (needsEngine(o))
      await waitForPolicyLoaded(client, o, res?.metadata?.generation, { ...opts.admission, sensitive: opts.sensitive });
  }
  return out;
}
