/**
 * The admission engines `pipeline deploy` renders a policy for, one entry each: the name the spec's
 * `admission.engine` takes (src/deploy/types.ts's ADMISSION_ENGINES: the Record type keeps the table's keys exactly
 * those), what the policy is, how it is made, and how `deploy --apply` reads from its status that the engine has
 * loaded it (admission-ready.ts). A third engine is one entry here and its module.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { AdmissionSpec } from "../deploy/types";
import {
  imageValidatingPolicy,
  type KyvernoClusterPolicy,
  type KyvernoImageValidatingPolicy,
  kyvernoCelPolicyState,
  kyvernoLegacyPolicy,
  kyvernoLegacyPolicyState,
} from "./admission-kyverno";
import type { AdmissionInput, PolicyState } from "./admission-scope";
import { type ClusterImagePolicy, clusterImagePolicy, sigstorePolicyState } from "./admission-sigstore";

export type AdmissionPolicy = ClusterImagePolicy | KyvernoImageValidatingPolicy | KyvernoClusterPolicy;

export interface AdmissionEngine {
  /** The engine as messages name it. */
  title: string;
  /** The policy's apiVersion and kind. */
  apiVersion: string;
  kind: string;
  render(a: AdmissionInput): AdmissionPolicy;
  /** The applied policy as read back: has the engine loaded `generation` of it? */
  loaded(read: object, generation: number): PolicyState;
}

export const ADMISSION_ENGINE_TABLE: Readonly<Record<AdmissionSpec["engine"], AdmissionEngine>> = {
  sigstore: {
    title: "sigstore policy-controller",
    apiVersion: "policy.sigstore.dev/v1beta1",
    kind: "ClusterImagePolicy",
    render: clusterImagePolicy,
    loaded: sigstorePolicyState,
  },
  kyverno: {
    title: "Kyverno",
    apiVersion: "policies.kyverno.io/v1",
    kind: "ImageValidatingPolicy",
    render: imageValidatingPolicy,
    loaded: kyvernoCelPolicyState,
  },
  "kyverno-legacy": {
    title: "Kyverno (ClusterPolicy, before 1.18)",
    apiVersion: "kyverno.io/v1",
    kind: "ClusterPolicy",
    render: kyvernoLegacyPolicy,
    loaded: kyvernoLegacyPolicyState,
  },
};

/** The engine whose policy `o` is, if any: what `deploy --apply` waits for after applying it. */
export function engineOfPolicy(o: KubernetesObject): AdmissionEngine | undefined {
  return Object.values(ADMISSION_ENGINE_TABLE).find((e) => e.apiVersion === o.apiVersion && e.kind === o.kind);
}
