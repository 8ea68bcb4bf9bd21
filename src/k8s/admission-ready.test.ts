import type { KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { kyvernoCelPolicyState } from "../admission/kyverno";
import { kyvernoLegacyPolicyState } from "../admission/kyverno-legacy";
import { sigstorePolicyState } from "../admission/sigstore";
import { PipelineError } from "../errors";
import { needsEngine, waitForPolicyLoaded } from "./admission-ready";
import type { K8sClient } from "./apply";

const CIP = {
  apiVersion: "policy.sigstore.dev/v1beta1",
  kind: "ClusterImagePolicy",
  metadata: { name: "rules-pipeline-app" },
};
const ready = (observedGeneration: number, status = "True", reason?: string, message?: string) => ({
  status: { observedGeneration, conditions: [{ type: "Ready", status, reason, message }] },
});

/** A client whose reads of the policy answer `answers` in turn (the last one repeated); counts the reads. */
function clientAnswering(answers: object[]): K8sClient & { reads: number } {
  const c = {
    reads: 0,
    where: 'https://127.0.0.1:6443 (context "test")',
    api: {
      read: async (o: KubernetesObject) => {
        expect(o).toEqual(CIP);
        return { ...CIP, ...answers[Math.min(c.reads++, answers.length - 1)] };
      },
    } as unknown as KubernetesObjectApi,
  };
  return c;
}

describe("waiting for the admission engine to load an applied policy", () => {
  it("waits for each engine's policy (sigstore, Kyverno's ImageValidatingPolicy and ClusterPolicy), nothing else", () => {
    expect(needsEngine(CIP)).toBe(true);
    expect(needsEngine({ ...CIP, apiVersion: "policies.kyverno.io/v1", kind: "ImageValidatingPolicy" })).toBe(true);
    expect(needsEngine({ ...CIP, apiVersion: "kyverno.io/v1", kind: "ClusterPolicy" })).toBe(true);
    expect(needsEngine({ ...CIP, apiVersion: "kyverno.io/v2", kind: "ClusterPolicy" })).toBe(false);
    expect(needsEngine({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "app" } })).toBe(false);
  });

  it("Kyverno: loaded once conditionStatus.ready is true; a condition of an older generation or a compile error is not", () => {
    const cond = (type: string, status: string, extra: object = {}) => ({ type, status, ...extra });
    expect(kyvernoCelPolicyState({}, 1)).toEqual({ loaded: false, status: "ready is not reported" });
    expect(
      kyvernoCelPolicyState(
        { status: { conditionStatus: { ready: false, conditions: [cond("WebhookConfigured", "False")] } } },
        1,
      ),
    ).toEqual({ loaded: false, status: "ready is false (WebhookConfigured False)" });
    expect(kyvernoCelPolicyState({ status: { conditionStatus: { ready: true } } }, 1)).toEqual({ loaded: true });
    const old = {
      status: { conditionStatus: { ready: true, conditions: [cond("Ready", "True", { observedGeneration: 1 })] } },
    };
    expect(kyvernoCelPolicyState(old, 2)).toMatchObject({
      loaded: false,
      status: expect.stringContaining("generation 2"),
    });
    const broken = cond("PolicyCached", "False", {
      reason: "Failed",
      message: "compilation error: undeclared reference",
    });
    expect(kyvernoCelPolicyState({ status: { conditionStatus: { ready: false, conditions: [broken] } } }, 1)).toEqual({
      loaded: false,
      failed: "PolicyCached: compilation error: undeclared reference",
      status: "",
    });
    expect(kyvernoLegacyPolicyState({ status: { conditions: [cond("Ready", "True")] } })).toEqual({ loaded: true });
    expect(kyvernoLegacyPolicyState({ status: "garbage" })).toEqual({ loaded: false, status: "Ready is not reported" });
  });

  it("loaded: the applied generation observed with Ready True (policy-controller writes its ConfigMap first)", () => {
    expect(sigstorePolicyState({}, 1)).toEqual({
      loaded: false,
      status: "the engine has not reconciled generation 1 yet",
    });
    // The previous generation was loaded: not this one.
    expect(sigstorePolicyState(ready(1), 2)).toMatchObject({ loaded: false });
    expect(sigstorePolicyState(ready(2, "Unknown", "FailedGenerationBump"), 2)).toEqual({
      loaded: false,
      status: "Ready is Unknown (FailedGenerationBump)",
    });
    expect(sigstorePolicyState(ready(2), 2)).toEqual({ loaded: true });
    expect(sigstorePolicyState(ready(2, "False", "InlineKeysFailed", "bad key"), 2)).toEqual({
      loaded: false,
      failed: "InlineKeysFailed: bad key",
      status: "",
    });
  });

  it("polls until the engine has the policy", async () => {
    const client = clientAnswering([{}, ready(0, "Unknown"), ready(3)]);
    await waitForPolicyLoaded(client, CIP, 3, { intervalMs: 1, timeoutMs: 10_000 });
    expect(client.reads).toBe(3);
  });

  it("the engine's refusal of the policy fails at once, naming the policy and the engine's reason", async () => {
    const client = clientAnswering([ready(1, "False", "InlineKeysFailed", "bad key")]);
    const e = await waitForPolicyLoaded(client, CIP, 1, { intervalMs: 1, timeoutMs: 10_000 }).catch((x) => x);
    expect(e).toBeInstanceOf(PipelineError);
    expect(e.code).toBe("E_K8S_ADMISSION");
    expect(e.message).toBe(
      "ClusterImagePolicy rules-pipeline-app: the admission engine (sigstore policy-controller) did not load the policy: InlineKeysFailed: bad key",
    );
    expect(client.reads).toBe(1);
  });

  it("an engine that never loads it: a bounded wait, then an error naming the policy and what was last seen", async () => {
    const client = clientAnswering([{}]);
    const e = await waitForPolicyLoaded(client, CIP, 1, { intervalMs: 5, timeoutMs: 50 }).catch((x) => x);
    expect(e.code).toBe("E_K8S_ADMISSION");
    expect(e.message).toBe(
      "ClusterImagePolicy rules-pipeline-app: the admission engine (sigstore policy-controller) has not loaded the policy " +
        "after 0.05 s (the engine has not reconciled generation 1 yet); the workload was not applied. Is the engine running " +
        'on the cluster at https://127.0.0.1:6443 (context "test")?',
    );
    expect(client.reads).toBeGreaterThan(1);
  });
});
