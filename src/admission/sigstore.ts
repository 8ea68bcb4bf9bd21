/**
 * sigstore policy-controller's policy (policy.sigstore.dev/v1beta1 ClusterImagePolicy): `images` globs `REPO:*` and
 * `REPO@*` (policy-controller's `*` never crosses a `/`), one key authority with the attestation and a CUE policy on
 * the statement. The engine only looks at namespaces labelled `policy.sigstore.dev/include: "true"`.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../slsa";
import {
  type AdmissionEngine,
  admittedReferences,
  type PolicyInput,
  type PolicyState,
  readyCondition,
  statusPath,
} from "./shared";

export const SIGSTORE_INCLUDE_LABEL = "policy.sigstore.dev/include";

export interface ClusterImagePolicy extends KubernetesObject {
  spec: {
    images: { glob: string }[];
    authorities: {
      name: string;
      key: { data: string; hashAlgorithm: string };
      attestations: { name: string; predicateType: string; policy: { type: "cue"; data: string } }[];
    }[];
    mode: "enforce";
  };
}

/** The CUE the sigstore policy applies to the verified statement. */
export function provenanceCue(): string {
  return [
    `predicateType: ${JSON.stringify(SLSA_PROVENANCE_V1)}`,
    `predicate: runDetails: builder: id: ${JSON.stringify(BUILDER_ID)}`,
    "",
  ].join("\n");
}

export function clusterImagePolicy(a: PolicyInput): ClusterImagePolicy {
  return {
    apiVersion: "policy.sigstore.dev/v1beta1",
    kind: "ClusterImagePolicy",
    metadata: a.metadata,
    spec: {
      images: admittedReferences(a.image).map((glob) => ({ glob })),
      authorities: [
        {
          name: "rules-pipeline-key",
          key: { data: a.publicKeyPem, hashAlgorithm: "sha256" },
          attestations: [
            {
              name: "slsa-provenance",
              predicateType: SLSA_PROVENANCE_V1,
              policy: { type: "cue", data: provenanceCue() },
            },
          ],
        },
      ],
      mode: "enforce",
    },
  };
}

/**
 * A ClusterImagePolicy as read back: has the engine loaded `generation` of it? Its ClusterImagePolicy reconciler
 * (v0.13.1, pkg/reconciler/clusterimagepolicy) compiles the policy into the ConfigMap its webhook reads and only then
 * writes `observedGeneration` and the `Ready` condition: True once the webhook holds this version; False at that
 * generation is the engine refusing the policy, with its reason.
 */
export function sigstorePolicyState(read: object, generation: number): PolicyState {
  const st = statusPath(read) ?? {};
  const observed = typeof st.observedGeneration === "number" ? st.observedGeneration : 0;
  if (observed < generation)
    return { loaded: false, status: `the engine has not reconciled generation ${generation} yet` };
  const ready = readyCondition(read);
  if (ready.status === "False") return { loaded: false, failed: ready.why || "Ready is False", status: "" };
  return ready.state;
}

/** `admission: {engine: sigstore}`. */
export const sigstore = {
  title: "sigstore policy-controller",
  doc: "a ClusterImagePolicy (policy-controller)",
  apiVersion: "policy.sigstore.dev/v1beta1",
  kind: "ClusterImagePolicy",
  render: clusterImagePolicy,
  loaded: sigstorePolicyState,
} satisfies AdmissionEngine<ClusterImagePolicy>;
