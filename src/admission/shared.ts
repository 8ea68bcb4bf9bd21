/**
 * What every admission engine shares: the entry it has in the table (engines.ts), its policy's input, the image
 * references it admits (exactly this repository by tag and by digest, never `*`) and the reading of its status.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { PipelineError } from "../errors";
import { isObject } from "../oci/descriptor";
import { parseReference } from "../oci/reference";

/** What an engine renders its policy from (src/k8s/admission.ts makes it from a deployment). */
export interface PolicyInput {
  /** The policy's (cluster-scoped) name, `rules-pipeline-NAME`, and the workload's labels. */
  metadata: { name: string; labels: Record<string, string> };
  /** The resolved image, HOST/REPO@sha256:... */
  image: string;
  /** The PEM public key (requireSignature's file). */
  publicKeyPem: string;
}

/**
 * An admission engine: the module that knows it exports this, and engines.ts lists it under the name the spec's
 * `admission.engine` takes.
 */
export interface AdmissionEngine<P extends KubernetesObject = KubernetesObject> {
  /** The engine as messages name it. */
  title: string;
  /** One line for the spec's field reference: what the policy is, for which versions of the engine. */
  doc: string;
  /** The policy's apiVersion and kind. */
  apiVersion: string;
  kind: string;
  render(a: PolicyInput): P;
  /** The applied policy as read back: has the engine loaded `generation` of it? */
  loaded(read: object, generation: number): PolicyState;
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

/** `read.status`'s `Ready` condition: loaded when True; otherwise its status (`False`, or absent) and why. */
export function readyCondition(read: object): { state: PolicyState; status?: string; why: string } {
  const ready = conditionsOf(statusPath(read)?.conditions).find((c) => c.type === "Ready");
  const why = [ready?.reason, ready?.message].filter(Boolean).join(": ");
  if (ready?.status === "True") return { state: { loaded: true }, status: ready.status, why };
  const state = {
    loaded: false,
    status: `Ready is ${ready?.status ?? "not reported"}${why ? ` (${why})` : ""}`,
  } as const;
  return { state, status: ready?.status, why };
}
