/**
 * The cluster's admission policy for a deployment (`admission: {engine}` in the spec, with `requireSignature`): what
 * the cluster itself checks when any client (kubectl, a controller, a rollback) creates a pod of this image's
 * repository, so the check of `deploy --apply` is not the only one.
 *
 * It admits an image of exactly this repository (never `*`) when
 *  - it is signed with the spec's key (carried inline, PEM), with no transparency log (our signatures have none), and
 *  - it carries an in-toto statement of predicate type https://slsa.dev/provenance/v1 signed with that key, whose
 *    builder is this tool (src/sign/provenance.ts BUILDER_ID) and whose subject is the image's digest. The engines
 *    check the subject themselves (cosign's IntotoSubjectClaimVerifier: the statement must name the digest being
 *    admitted), so a provenance copied from another image is refused; the policy adds the builder.
 * The policy is not pinned to the digest being deployed: a rollback to an older signed build of the same repository is
 * admitted, an unsigned image or a tag moved to one is not.
 *
 *  - sigstore (sigstore/policy-controller, policy.sigstore.dev/v1beta1 ClusterImagePolicy): `images` globs
 *    `REPO:*` and `REPO@*` (policy-controller's `*` never crosses a `/`), one key authority with the attestation and a
 *    CUE policy on the statement. The engine only looks at namespaces labelled `policy.sigstore.dev/include: "true"`.
 *  - kyverno (kyverno.io/v1 ClusterPolicy): one rule matching Pods (Kyverno derives the Deployment/Job rules) with
 *    `verifyImages`: the same references, the key as attestor, the attestation with a condition on the builder id;
 *    `failureAction: Enforce` refuses the pod, `mutateDigest` pins a tag to the verified digest.
 * Validated against each engine's CRD schema in admission.test.ts.
 */
import { dirname, resolve } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { AdmissionSpec, ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { parseReference, pinnedDigest } from "../oci/reference";
import { readPublicKey } from "../sign/cosign-key";
import { BUILDER_ID, SLSA_PROVENANCE_V1 } from "../sign/provenance";
import { objectLabels, validateObjectName } from "./names";
import { versionOf } from "./render";

export const SIGSTORE_INCLUDE_LABEL = "policy.sigstore.dev/include";

export interface AdmissionInput {
  admission: AdmissionSpec;
  /** The deployment's name: the policy is `rules-pipeline-NAME`. */
  name: string;
  /** The resolved image, HOST/REPO@sha256:... */
  image: string;
  /** The PEM public key (requireSignature's file). */
  publicKeyPem: string;
  /** The version label of the workload. */
  version: string;
}

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

export type AdmissionPolicy = ClusterImagePolicy | KyvernoClusterPolicy;

/** `rules-pipeline-NAME`: the policy's (cluster-scoped) name. */
export function admissionPolicyName(name: string): string {
  return validateObjectName(`rules-pipeline-${name}`, 253);
}

/** The image's repository as the engines name it (HOST/REPO; Docker Hub as index.docker.io/...). */
export function admittedRepository(image: string): string {
  const ref = parseReference(image, "image");
  if (!ref.digest) {
    throw new PipelineError("E_K8S_SPEC", `admission: expected the image by digest, got ${JSON.stringify(image)}`);
  }
  return `${ref.registry}/${ref.repository}`;
}

/** The references the policy matches: this repository by tag and by digest, nothing else. */
export function admittedReferences(image: string): string[] {
  const repo = admittedRepository(image);
  return [`${repo}:*`, `${repo}@*`];
}

/** The CUE the sigstore policy applies to the verified statement. */
export function provenanceCue(): string {
  return [
    `predicateType: ${JSON.stringify(SLSA_PROVENANCE_V1)}`,
    `predicate: runDetails: builder: id: ${JSON.stringify(BUILDER_ID)}`,
    "",
  ].join("\n");
}

function clusterImagePolicy(a: AdmissionInput): ClusterImagePolicy {
  return {
    apiVersion: "policy.sigstore.dev/v1beta1",
    kind: "ClusterImagePolicy",
    metadata: { name: admissionPolicyName(a.name), labels: objectLabels(a.name, a.version) },
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

function kyvernoPolicy(a: AdmissionInput): KyvernoClusterPolicy {
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

/** The policy of `a.admission.engine` for this deployment's image. */
export function renderAdmissionPolicy(a: AdmissionInput): AdmissionPolicy {
  if (!/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/.test(a.publicKeyPem)) {
    throw new PipelineError("E_K8S_SPEC", "requireSignature: expected a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  return a.admission.engine === "sigstore" ? clusterImagePolicy(a) : kyvernoPolicy(a);
}

/**
 * The policy of a resolved deployment whose spec has `admission` (and, checked by the spec, `requireSignature`): the
 * key is read from requireSignature's file (relative to the spec), the image must be in a registry.
 */
export async function admissionPolicyOf(r: ResolvedDeployment, specFile: string): Promise<AdmissionPolicy | undefined> {
  const { admission, requireSignature } = r.spec;
  if (!admission) return undefined;
  if (!requireSignature) {
    throw new PipelineError("E_K8S_SPEC", `${specFile}: admission: needs requireSignature (the key it admits)`);
  }
  if (!r.image || !pinnedDigest(r.image) || r.image.startsWith("oci:")) {
    throw new PipelineError(
      "E_K8S_SPEC",
      `${specFile}: admission: the policy names an image in a registry; the deployment's image is ${JSON.stringify(r.image ?? r.spec.interpreter.kind)}`,
    );
  }
  const keyFile = resolve(dirname(specFile), requireSignature);
  let pem: string;
  try {
    pem = (await readPublicKey(keyFile, "public key")).export({ type: "spki", format: "pem" }).toString();
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    throw new PipelineError(e.code, `${specFile}: requireSignature: ${e.message}`);
  }
  return renderAdmissionPolicy({
    admission,
    name: r.spec.name,
    image: r.image,
    publicKeyPem: pem,
    version: versionOf(r, r.image),
  });
}
