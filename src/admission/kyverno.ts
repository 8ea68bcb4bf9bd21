/**
 * `admission: {engine: kyverno}` (Kyverno >= 1.18): a `policies.kyverno.io/v1` ImageValidatingPolicy, Kyverno's CEL
 * policy type (GA in 1.18; ClusterPolicy is deprecated since 1.17 and removed in 1.20, kyverno-legacy.ts). Pods on
 * create and update (Kyverno derives the rules of the pod controllers: Deployments, Jobs, ...), images matched by
 * `REPO:*` and `REPO@*`, one cosign key attestor with no transparency log (our signatures have none), the SLSA v1
 * provenance as an in-toto attestation, and three CEL validations on each image of this repository: signed with the
 * key, carrying the provenance signed with it, whose builder is this tool. Kyverno 1.19.1 verifies our Sigstore v0.3
 * bundles (OCI 1.1 referrers); the legacy `.sig`/`.att` form alone is refused (it takes a legacy attestation only with
 * a transparency-log entry). Validated against Kyverno's CRD schema in src/k8s/admission.test.ts, and run on the test
 * cluster (test/e2e/k8s-real-admission.test.ts).
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../slsa";
import {
  type AdmissionEngine,
  admittedReferences,
  admittedRepository,
  conditionsOf,
  type PolicyInput,
  type PolicyState,
  statusPath,
} from "./shared";

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

export function imageValidatingPolicy(a: PolicyInput): KyvernoImageValidatingPolicy {
  const repository = admittedRepository(a.image);
  return {
    apiVersion: "policies.kyverno.io/v1",
    kind: "ImageValidatingPolicy",
    metadata: a.metadata,
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

/** `admission: {engine: kyverno}`. */
export const kyverno = {
  title: "Kyverno",
  doc: "an ImageValidatingPolicy (Kyverno >= 1.18)",
  apiVersion: "policies.kyverno.io/v1",
  kind: "ImageValidatingPolicy",
  render: imageValidatingPolicy,
  loaded: kyvernoCelPolicyState,
} satisfies AdmissionEngine<KyvernoImageValidatingPolicy>;
