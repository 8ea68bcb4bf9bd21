/**
 * What every admission engine's policy shares (src/k8s/admission.ts picks the engine): its input, its name and the
 * image references it admits, exactly this repository by tag and by digest, never `*`.
 */
import type { AdmissionSpec } from "../deploy/types";
import { PipelineError } from "../errors";
import { isObject } from "../oci/descriptor";
import { parseReference } from "../oci/reference";
import { validateObjectName } from "./names";

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

/** An applied policy as its engine reports it: loaded, refused (`failed`), or not yet (`status` says why). */
export type PolicyState = { loaded: true } | { loaded: false; failed?: string; status: string };

/** A Kubernetes status condition (metav1.Condition, knative's apis.Condition). */
export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return isObject(v) ? v : undefined;
}

/** `read.status.PATH...` as a record (each step a JSON object), whatever the server sent; undefined where it is not. */
export function statusPath(read: object, ...path: string[]): Record<string, unknown> | undefined {
  let at = record("status" in read ? read.status : undefined);
  for (const key of path) at = record(at?.[key]);
  return at;
}

/** The well-formed conditions of a status list (`type` and `status` strings), whatever else the server sent. */
export function conditionsOf(v: unknown): Condition[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((c) => {
    const r = record(c);
    if (typeof r?.type !== "string" || typeof r.status !== "string") return [];
    const text = (k: string) => (typeof r[k] === "string" ? r[k] : undefined);
    const gen = typeof r.observedGeneration === "number" ? r.observedGeneration : undefined;
    return [
      { type: r.type, status: r.status, reason: text("reason"), message: text("message"), observedGeneration: gen },
    ];
  });
}
