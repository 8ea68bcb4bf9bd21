/**
 * Kyverno's policies for the admission of one repository's signed images:
 *  - `kyverno` (Kyverno >= 1.18): a `policies.kyverno.io/v1` ImageValidatingPolicy, Kyverno's CEL policy type (GA in
 *    1.18; ClusterPolicy is deprecated since 1.17 and removed in 1.20). Pods on create and update (Kyverno derives the
 *    rules of the pod controllers: Deployments, Jobs, ...), images matched by `REPO:*` and `REPO@*`, one cosign key
 *    attestor with no transparency log (our signatures have none), the SLSA v1 provenance as an in-toto attestation,
 *    and three CEL validations on each image of this repository: signed with the key, carrying the provenance signed
 *    with it, whose builder is this tool. Kyverno 1.19.1 verifies our Sigstore v0.3 bundles (OCI 1.1 referrers); the
 *    legacy `.sig`/`.att` form alone is refused (it takes a legacy attestation only with a transparency-log entry).
 *  - `kyverno-legacy` (Kyverno < 1.18): the `kyverno.io/v1` ClusterPolicy with `verifyImages` these versions read; its
 *    classic verifier reads the legacy tags, never referrers (kyverno #5655): sign with `--sign-legacy` for it.
 * Validated against each engine's CRD schema in admission.test.ts, and run on the test cluster
 * (test/e2e/k8s-real-admission.test.ts).
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../sign/provenance";
import {
  type AdmissionInput,
  admissionPolicyName,
  admittedReferences,
  admittedRepository,
  conditionsOf,
  type PolicyState,
  statusPath,
} from "./admission-scope";
import { objectLabels } from "./names";

export interface KyvernoImageValidatingPolicy extends KubernetesObject {
  spec: {
    webhookConfiguration: { timeoutSeconds: number };
    failurePolicy: "Fail";
    validationActions: ["Deny"];
    matchConstraints: {
      resourceRules: { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] }[];
    };
    matchImageReferences: { glob: string }[];
    validationConfigurations: { mutateDigest: boolean; verifyDigest: boolean; required: boolean };
    attestors: {
      name: string;
      cosign: {
        key: { data: string; hashAlgorithm: string };
        ctlog: { insecureIgnoreTlog: true; insecureIgnoreSCT: true };
      };
    }[];
    attestations: { name: string; intoto: { type: string } }[];
    validations: { expression: string; message: string }[];
  };
}

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

/**
 * `check(image)` for every image of this repository the resource names, whatever Kyverno's extractors call their
 * lists (`containers`, `initContainers`, ... for a pod; its own for the pod controllers' derived rules). Images of
 * other repositories (sidecars, init images) are not this policy's: Kyverno's functions answer 0 for them.
 */
function eachOfOurs(repository: string, check: string): string {
  const repo = JSON.stringify(repository);
  const ours = `(image.startsWith(${repo} + ":") || image.startsWith(${repo} + "@"))`;
  return `images.all(kind, images[kind].all(image, !${ours} || ${check}))`;
}

export function imageValidatingPolicy(a: AdmissionInput): KyvernoImageValidatingPolicy {
  const repository = admittedRepository(a.image);
  return {
    apiVersion: "policies.kyverno.io/v1",
    kind: "ImageValidatingPolicy",
    metadata: { name: admissionPolicyName(a.name), labels: objectLabels(a.name, a.version) },
    spec: {
      webhookConfiguration: { timeoutSeconds: 30 },
      failurePolicy: "Fail",
      validationActions: ["Deny"],
      matchConstraints: {
        resourceRules: [
          { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods"] },
        ],
      },
      matchImageReferences: admittedReferences(a.image).map((glob) => ({ glob })),
      validationConfigurations: { mutateDigest: true, verifyDigest: true, required: true },
      attestors: [
        {
          name: "key",
          cosign: {
            key: { data: a.publicKeyPem, hashAlgorithm: "sha256" },
            ctlog: { insecureIgnoreTlog: true, insecureIgnoreSCT: true },
          },
        },
      ],
      attestations: [{ name: "provenance", intoto: { type: SLSA_PROVENANCE_V1 } }],
      validations: [
        {
          expression: eachOfOurs(repository, "verifyImageSignatures(image, [attestors.key]) > 0"),
          message: "the image must be signed with the key of the deployment's requireSignature",
        },
        {
          expression: eachOfOurs(
            repository,
            "verifyAttestationSignatures(image, attestations.provenance, [attestors.key]) > 0",
          ),
          message: `the image must carry ${SLSA_PROVENANCE_V1} provenance signed with that key`,
        },
        {
          expression: eachOfOurs(
            repository,
            `extractPayload(image, attestations.provenance).predicate.runDetails.builder.id == ${JSON.stringify(BUILDER_ID)}`,
          ),
          message: `the SLSA provenance's builder must be ${BUILDER_ID}`,
        },
      ],
    },
  };
}

export function kyvernoLegacyPolicy(a: AdmissionInput): KyvernoClusterPolicy {
  const attestor: KyvernoKeyAttestor = {
    entries: [{ keys: { publicKeys: a.publicKeyPem, rekor: { ignoreTlog: true }, ctlog: { ignoreSCT: true } } }],
  };
  return {
    apiVersion: "kyverno.io/v1",
    kind: "ClusterPolicy",
    metadata: { name: admissionPolicyName(a.name), labels: objectLabels(a.name, a.version) },
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

/**
 * An ImageValidatingPolicy as read back: Kyverno's policy controller sets `status.conditionStatus.ready` once the
 * policy compiled and its webhook configuration names it; a condition False with a reason is the engine refusing it
 * (a CEL expression that does not compile). The status has no generation of its own: a condition's
 * observedGeneration, where Kyverno sets one, must have reached `generation`.
 */
export function kyvernoCelPolicyState(read: object, generation: number): PolicyState {
  const st = statusPath(read, "conditionStatus") ?? {};
  const conditions = conditionsOf(st.conditions);
  const stale = conditions.find((c) => c.observedGeneration !== undefined && c.observedGeneration < generation);
  if (stale) return { loaded: false, status: `the engine has not reconciled generation ${generation} yet` };
  const refused = conditions.find(
    (c) => c.status === "False" && /compil|invalid|error/i.test(`${c.reason ?? ""} ${c.message ?? ""}`),
  );
  if (refused) return { loaded: false, failed: [refused.type, refused.message].filter(Boolean).join(": "), status: "" };
  if (st.ready === true) return { loaded: true };
  const waiting = conditions.filter((c) => c.status !== "True").map((c) => `${c.type} ${c.status}`);
  return {
    loaded: false,
    status: `ready is ${String(st.ready ?? "not reported")}${waiting.length ? ` (${waiting.join(", ")})` : ""}`,
  };
}

/** A ClusterPolicy as read back: its `Ready` condition True once Kyverno's webhooks hold it. */
export function kyvernoLegacyPolicyState(read: object): PolicyState {
  const ready = conditionsOf(statusPath(read)?.conditions).find((c) => c.type === "Ready");
  if (ready?.status === "True") return { loaded: true };
  const why = [ready?.reason, ready?.message].filter(Boolean).join(": ");
  return { loaded: false, status: `Ready is ${ready?.status ?? "not reported"}${why ? ` (${why})` : ""}` };
}
