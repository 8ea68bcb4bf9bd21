/**
 * Kubernetes names and labels for rendered objects. Object names come from the spec's `name` (a DNS-1035
 * label, so it is valid for a Deployment, a Service, a Job and a container) and from named secrets, whose
 * names allow characters Kubernetes does not (`_`, upper case): those are folded to lower case and `-` and
 * get a short hash of the original name so two secrets never fold to one object.
 */
import { createHash } from "node:crypto";
import { PipelineError } from "../errors";

export const MANAGED_BY = "rules_pipeline";
/** Field manager for server-side apply. */
export const FIELD_MANAGER = "rules_pipeline";
/** Annotation prefix for what `--apply` does with an object (a valid DNS subdomain prefix). */
export const ANNOTATION_PREFIX = "rules-pipeline";

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Validates the deployment name for use as a Kubernetes object name; `maxLength` leaves room for suffixes. */
export function validateObjectName(name: string, maxLength = 63): string {
  if (!DNS1035_LABEL.test(name) || name.length > maxLength) {
    throw new PipelineError(
      "E_K8S_NAME",
      `name: Kubernetes needs a lower-case DNS label (a-z, 0-9, '-', starting with a letter, at most ${maxLength} characters), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

function shortHash(text: string, length = 8): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** `prefix-<folded name>`, plus `-<hash>` when folding changed the name or it had to be shortened. */
function foldedName(prefix: string, name: string): string {
  const folded = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .replace(/^[.-]+|[.-]+$/g, "");
  const plain = `${prefix}-${folded}`;
  if (folded === name && plain.length <= 253) return plain;
  return `${prefix}-${folded.slice(0, 200)}-${shortHash(name)}`.replace(/--+/g, "-");
}

/** The Secret holding the named secret `name` under the key {@link SECRET_KEY}. */
export function namedSecretObjectName(name: string): string {
  return foldedName("rp-secret", name);
}

export const SECRET_KEY = "value";

/** The `kubernetes.io/dockerconfigjson` Secret made from the `containerRegistry` credential `name`. */
export function registrySecretObjectName(name: string): string {
  return foldedName("rp-registry", name);
}

export function selectorLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": name };
}

/**
 * Labels of every object: name, instance (the deployment's name), version (when given: the image tag it was
 * resolved from, else the digest's first 12 hex digits) and managed-by.
 */
export function objectLabels(name: string, version?: string): Record<string, string> {
  const out: Record<string, string> = { "app.kubernetes.io/name": name, "app.kubernetes.io/instance": name };
  const v = version === undefined ? undefined : labelValue(version);
  if (v) out["app.kubernetes.io/version"] = v;
  out["app.kubernetes.io/managed-by"] = MANAGED_BY;
  return out;
}

/** Kubernetes label value grammar: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric (or empty). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** `text` made a valid label value: other characters → '-', at most 63, trimmed to alphanumeric ends. */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** A stable content hash for names (Job names are content-addressed). */
export function contentHash(value: unknown, length = 8): string {
  return shortHash(JSON.stringify(value), length);
}
