/**
 * The Secrets a rendered deployment refers to, and how `--apply` fills them.
 *  - A named secret (`SECRET:name` as a git password or an env value) becomes an Opaque Secret
 *    `rp-secret-<name>` with one key, `value`; containers read it through `secretKeyRef`.
 *  - The `containerRegistry` credential becomes a `kubernetes.io/dockerconfigjson` Secret
 *    `rp-registry-<name>` used as the pod's imagePullSecret and as the docker config of the ORAS init
 *    containers.
 * Rendered output never holds data: each Secret carries annotations saying which local secret `--apply`
 * fills it from. {@link fillSecrets} reads the local values (src/deploy/secrets.ts) and returns filled copies
 * plus every form of every value, so callers can scrub them from any message.
 */
import type { V1Secret } from "@kubernetes/client-node";
import { resolveNamedSecret, resolveRegistrySecret, type SecretLookupOptions } from "../deploy/secrets";
import { DOCKER_HUB, parseReference } from "../oci/reference";
import { ANNOTATION_PREFIX, namedSecretObjectName, objectLabels, registrySecretObjectName, SECRET_KEY } from "./names";

export const SECRET_ANNOTATION = `${ANNOTATION_PREFIX}/secret`;
export const REGISTRY_ANNOTATION = `${ANNOTATION_PREFIX}/registry-credential`;
export const REGISTRY_HOSTS_ANNOTATION = `${ANNOTATION_PREFIX}/registry-hosts`;
export const FILL_ANNOTATION = `${ANNOTATION_PREFIX}/data`;
const FILL_NOTE = "filled by `pipeline deploy --apply` from the local secret; never rendered";

/** Pod template annotation naming the Secrets the pod needs (a JSON list of {@link RequiredSecret}). */
export const REQUIRED_SECRETS_ANNOTATION = `${ANNOTATION_PREFIX}/required-secrets`;

/** A Secret a pod refers to: what must exist in the namespace, and which local secret fills it. */
export interface RequiredSecret {
  name: string;
  type: string;
  keys: string[];
  /** The local secret (`SECRET:name`) or registry credential (`containerRegistry:`) it is filled from. */
  from: string;
}

/** What each placeholder Secret must hold. */
export function requiredSecrets(placeholders: readonly V1Secret[]): RequiredSecret[] {
  return placeholders.map((s) => {
    const a = s.metadata?.annotations ?? {};
    const registry = a[REGISTRY_ANNOTATION] !== undefined;
    return {
      name: s.metadata?.name ?? "",
      type: s.type ?? "Opaque",
      keys: registry ? [".dockerconfigjson"] : [SECRET_KEY],
      from: registry
        ? `containerRegistry ${a[REGISTRY_ANNOTATION]} (hosts ${a[REGISTRY_HOSTS_ANNOTATION]})`
        : `secret ${a[SECRET_ANNOTATION]}`,
    };
  });
}

/** `SECRET:name` → name, else undefined. */
export { envSecretName as secretRefName } from "../deploy/env";

export function namedSecretPlaceholder(secret: string, namespace: string, app: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: namedSecretObjectName(secret),
      namespace,
      labels: objectLabels(app),
      annotations: { [SECRET_ANNOTATION]: secret, [FILL_ANNOTATION]: FILL_NOTE },
    },
    type: "Opaque",
  };
}

/** The key a dockerconfigjson uses for a registry host (Docker Hub keeps its historical URL). */
export function dockerConfigKey(host: string): string {
  return host === DOCKER_HUB ? "https://index.docker.io/v1/" : host;
}

/** Registry hosts the credential is for: the image's registry only (never sent to other hosts). */
export function registryHosts(image: string): string[] {
  return [dockerConfigKey(parseReference(image, "image").registry)];
}

export function registrySecretPlaceholder(
  credential: string,
  hosts: string[],
  namespace: string,
  app: string,
): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: registrySecretObjectName(credential),
      namespace,
      labels: objectLabels(app),
      annotations: {
        [REGISTRY_ANNOTATION]: credential,
        [REGISTRY_HOSTS_ANNOTATION]: hosts.join(","),
        [FILL_ANNOTATION]: FILL_NOTE,
      },
    },
    type: "kubernetes.io/dockerconfigjson",
  };
}

/** Whether an object is a placeholder Secret that {@link fillSecrets} fills. */
export function isPlaceholderSecret(o: {
  kind?: string;
  metadata?: { annotations?: Record<string, string> };
}): boolean {
  const a = o.kind === "Secret" ? (o.metadata?.annotations ?? {}) : {};
  return SECRET_ANNOTATION in a || REGISTRY_ANNOTATION in a;
}

export interface FilledSecrets<T> {
  objects: T[];
  /** Every secret value read, in the forms it could appear as (raw, base64, the docker config JSON...). */
  sensitive: string[];
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** Copies of `objects` with placeholder Secrets' data filled from local secrets. */
export function fillSecrets<T extends { kind?: string; metadata?: { annotations?: Record<string, string> } }>(
  objects: T[],
  lookup: SecretLookupOptions = {},
): FilledSecrets<T> {
  const sensitive = new Set<string>();
  const out = objects.map((o) => {
    if (!isPlaceholderSecret(o)) return o;
    const a = o.metadata?.annotations ?? {};
    const secret = o as unknown as V1Secret;
    if (a[SECRET_ANNOTATION] !== undefined) {
      const value = resolveNamedSecret(a[SECRET_ANNOTATION], lookup);
      sensitive.add(value);
      sensitive.add(b64(value));
      return { ...secret, data: { [SECRET_KEY]: b64(value) } } as unknown as T;
    }
    const cred = resolveRegistrySecret(a[REGISTRY_ANNOTATION], lookup);
    const auth = b64(`${cred.username}:${cred.password}`);
    const auths: Record<string, { username: string; password: string; auth: string }> = {};
    for (const host of (a[REGISTRY_HOSTS_ANNOTATION] ?? "").split(",").filter(Boolean)) {
      auths[host] = { username: cred.username, password: cred.password, auth };
    }
    const json = JSON.stringify({ auths });
    for (const s of [cred.password, b64(cred.password), auth, json, b64(json)]) sensitive.add(s);
    return { ...secret, data: { ".dockerconfigjson": b64(json) } } as unknown as T;
  });
  return { objects: out, sensitive: [...sensitive] };
}

/** `text` with every sensitive string (and its URL-encoded form) replaced by `[REDACTED]`. */
export function scrub(text: string, sensitive: readonly string[]): string {
  let out = text;
  const forms = new Set<string>();
  for (const s of sensitive) {
    if (!s) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
  }
  for (const f of [...forms].sort((x, y) => y.length - x.length)) out = out.split(f).join("[REDACTED]");
  return out;
}
