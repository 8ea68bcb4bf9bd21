/**
 * The Kubernetes API client the commands use and its one error boundary: `apiError` turns a failed call into a
 * PipelineError naming the object and the HTTP status, quoting the server's Status message with every known secret
 * scrubbed out (the client's own exception, which carries response bodies and headers, is never attached or
 * printed), and an admission webhook's denial into E_K8S_ADMISSION. apply.ts, rollout.ts, admission-ready.ts and
 * image-volume-nodes.ts import it (none of them imports another for it).
 */
import { type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { PipelineError, redactUrl } from "../errors";
import { describeObject } from "./render";
import { scrub } from "./secret-objects";
import type { LoadedKubeconfig } from "./kubeconfig";

export interface K8sClient {
  api: KubernetesObjectApi;
  /** For messages: the API server URL (redacted) and the context. */
  where: string;
}

export function makeClient(loaded: LoadedKubeconfig): K8sClient {
  return {
    api: KubernetesObjectApi.makeApiClient(loaded.kc),
    where: `${redactUrl(loaded.server)} (context ${JSON.stringify(loaded.context)})`,
  };
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const HINTS: Record<number, string> = {
  401: " — the kubeconfig's credentials were rejected",
  403: " — the kubeconfig's user lacks permission (RBAC)",
};

/** A PipelineError for a failed API call; `sensitive` values are scrubbed from anything quoted. */
export function apiError(
  action: string,
  o: KubernetesObject,
  e: unknown,
  client: K8sClient,
  sensitive: readonly string[],
): PipelineError {
  const what = `${action} ${describeObject(o)}`;
  const err = e as { code?: unknown; body?: unknown; message?: unknown; name?: unknown };
  if (typeof err.code === "number") {
    const status = err.code;
    let body = err.body as { message?: unknown } | string | undefined;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body) as { message?: unknown };
      } catch {
        /* not JSON: quoted as text */
      }
    }
    let detail = "";
    if (body && typeof body === "object" && typeof body.message === "string") detail = body.message;
    else if (typeof body === "string") detail = body;
    // Scrub before shortening, so no secret is cut into a piece the scrubber would not recognise.
    detail = scrub(detail, sensitive).replace(/\s+/g, " ").trim();
    const denial = admissionDenial(detail);
    if (denial) {
      return new PipelineError(
        "E_K8S_ADMISSION",
        `${what}: the cluster's admission webhook ${JSON.stringify(denial.webhook)} refused it` +
          (denial.policy ? ` (policy ${denial.policy})` : "") +
          `: ${denial.reason.length > 700 ? `${denial.reason.slice(0, 700)}...` : denial.reason}`,
      );
    }
    if (detail.length > 500) detail = `${detail.slice(0, 500)}...`;
    return new PipelineError(
      "E_K8S_API",
      `${what}: the API server at ${client.where} answered ${status} ${REASONS[status] ?? ""}`.trimEnd() +
        (HINTS[status] ?? "") +
        (detail ? `: ${detail}` : ""),
    );
  }
  const message = typeof err.message === "string" ? err.message : String(e);
  if (/Unrecognized API version and kind/.test(message)) {
    return new PipelineError(
      "E_K8S_API",
      `${what}: the API server at ${client.where} does not serve ${o.apiVersion} ${o.kind}`,
    );
  }
  const sysCode = (e as { code?: unknown; errno?: unknown }).code ?? (e as { errno?: unknown }).errno;
  const reason = typeof sysCode === "string" ? sysCode : scrub(message, sensitive).replace(/\s+/g, " ").slice(0, 200);
  return new PipelineError(
    "E_K8S_UNREACHABLE",
    `${what}: cannot reach the Kubernetes API at ${client.where}: ${reason}`,
  );
}

/**
 * An admission webhook's refusal as the API server words it (`admission webhook "NAME" denied the request: ...`), with
 * the policy named when the engine says which one: sigstore policy-controller (`failed policy: NAME: ...`), Kyverno's
 * ClusterPolicy (`... blocked due to the following policies NAME: RULE: ...`) or its ImageValidatingPolicy (`Policy
 * NAME failed: MESSAGE`).
 */
export function admissionDenial(message: string): { webhook: string; policy?: string; reason: string } | undefined {
  const m = /admission webhook "([^"]+)" denied the request:?\s*(.*)$/s.exec(message);
  if (!m) return undefined;
  const reason = m[2].trim();
  const policy =
    /failed policy: ([a-z0-9][-a-z0-9.]*):/.exec(reason)?.[1] ??
    /blocked due to the following policies:? ([a-z0-9][-a-z0-9.]*):/.exec(reason)?.[1] ??
    /^Policy ([a-z0-9][-a-z0-9.]*) failed\b/.exec(reason)?.[1];
  return { webhook: m[1], ...(policy ? { policy } : {}), reason: reason || "(no reason given)" };
}
