/**
 * `admission: {engine: kyverno-legacy}` (Kyverno < 1.18): the `kyverno.io/v1` ClusterPolicy with `verifyImages` these
 * versions read (deprecated by Kyverno since 1.17, removed in 1.20; kyverno.ts renders its successor). One rule on
 * Pods (Kyverno derives the pod controllers' rules), the key inline with no transparency log, the SLSA v1 provenance
 * signed by the same key whose builder is this tool. Its classic verifier reads cosign's legacy tags, never referrers
 * (kyverno #5655): sign with `--sign-legacy` for it. Validated against its CRD schema in src/k8s/admission.test.ts,
 * and run on the test cluster (test/e2e/k8s-real-admission.test.ts).
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../slsa";
import { type AdmissionEngine, admittedReferences, type PolicyInput, type PolicyState, readyCondition } from "./shared";

export interface KyvernoKeyAttestor {
  entries: { keys: { publicKeys: string; rekor: { ignoreTlog: true }; ctlog: { ignoreSCT: true } } }[];
}

export interface KyvernoClusterPolicy extends KubernetesObject {
  spec: {
    background: false;
    webhookTimeoutSeconds: number;
    rules: {
      name: string;
      match: { any: { resources: { kinds: string[] } }[] };
      verifyImages: {
        imageReferences: string[];
        failureAction: "Enforce";
        mutateDigest: true;
        verifyDigest: true;
        required: true;
        attestors: KyvernoKeyAttestor[];
        attestations: {
          name: string;
          predicateType: string;
          attestors: KyvernoKeyAttestor[];
          conditions: { all: { key: string; operator: "Equals"; value: string; message: string }[] }[];
        }[];
      }[];
    }[];
  };
}

export function kyvernoLegacyPolicy(a: PolicyInput): KyvernoClusterPolicy {
  const attestor: KyvernoKeyAttestor = {
    entries: [{ keys: { publicKeys: a.publicKeyPem, rekor: { ignoreTlog: true }, ctlog: { ignoreSCT: true } } }],
  };
  return {
    apiVersion: "kyverno.io/v1",
    kind: "ClusterPolicy",
    metadata: a.metadata,
    spec: {
      background: false,
      webhookTimeoutSeconds: 30,
      rules: [
        {
          name: "signed-with-slsa-provenance",
          match: { any: [{ resources: { kinds: ["Pod"] } }] },
          verifyImages: [
            {
              imageReferences: admittedReferences(a.image),
              failureAction: "Enforce",
              mutateDigest: true,
              verifyDigest: true,
              required: true,
              attestors: [attestor],
              attestations: [
                {
                  name: "slsa-provenance",
                  predicateType: SLSA_PROVENANCE_V1,
                  attestors: [attestor],
                  conditions: [
                    {
                      all: [
                        {
                          key: "{{ runDetails.builder.id }}",
                          operator: "Equals",
                          value: BUILDER_ID,
                          message: `the SLSA provenance's builder must be ${BUILDER_ID}`,
                        },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

/** A ClusterPolicy as read back: its `Ready` condition True once Kyverno's webhooks hold it. */
export function kyvernoLegacyPolicyState(read: object): PolicyState {
  return readyCondition(read).state;
}

/** `admission: {engine: kyverno-legacy}`. */
export const kyvernoLegacy = {
  title: "Kyverno (ClusterPolicy, before 1.18)",
  doc: "a ClusterPolicy with verifyImages (Kyverno < 1.18, deprecated)",
  apiVersion: "kyverno.io/v1",
  kind: "ClusterPolicy",
  render: kyvernoLegacyPolicy,
  loaded: kyvernoLegacyPolicyState,
} satisfies AdmissionEngine<KyvernoClusterPolicy>;
