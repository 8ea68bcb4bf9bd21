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
 * The engines are one table, src/admission/engines.ts: what each renders and how `deploy --apply` knows it has loaded
 * the policy (admission-ready.ts); the spec's `admission.engine` takes exactly its keys.
 */
import { dirname, resolve } from "node:path";
import { ADMISSION_ENGINE_TABLE, type AdmissionPolicy } from "../admission/engines";
import type { AdmissionSpec, ResolvedDeployment } from "../deploy/types";
import { PipelineError } from "../errors";
import { pinnedDigest } from "../oci/reference";
import { readPublicKey } from "../sign/cosign-key";
import { objectLabels, validateObjectName } from "./names";
import { versionOf } from "./render";

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

/** `rules-pipeline-NAME`: the policy's (cluster-scoped) name. */
export function admissionPolicyName(name: string): string {
  return validateObjectName(`rules-pipeline-${name}`, 253);
}

/** The policy of `a.admission.engine` for this deployment's image. */
export function renderAdmissionPolicy(a: AdmissionInput): AdmissionPolicy {
  if (!/^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/.test(a.publicKeyPem)) {
    throw new PipelineError("E_K8S_SPEC", "requireSignature: expected a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  const metadata = { name: admissionPolicyName(a.name), labels: objectLabels(a.name, a.version) };
  return ADMISSION_ENGINE_TABLE[a.admission.engine].render({ metadata, image: a.image, publicKeyPem: a.publicKeyPem });
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
