/**
 * The few API calls `pipeline run --on kubernetes` makes (create a Job, list its pods, read a pod, follow its
 * log, delete the Job), as plain HTTP requests authenticated by @kubernetes/client-node's KubeConfig
 * (`applyToHTTPSOptions`: CA, client certificates, bearer tokens, exec plugins). Plain requests rather than the
 * generated API classes because the log must be read as a stream whose end and errors we see (the client's
 * `Log` pipes the body and hides a dropped connection), and so every call maps errors the same way:
 *  - 403 → E_K8S_FORBIDDEN naming the verb, the resource and the namespace (RBAC);
 *  - 404 → E_K8S_NOT_FOUND (a missing namespace, a Job or pod deleted by someone else);
 *  - other statuses → E_K8S_API with the server's Status message;
 *  - no answer → E_K8S_UNREACHABLE naming the server and the context.
 * The kubeconfig's credentials never appear in a message.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { PipelineError, redactUrl } from "../errors";
import type { LoadedKubeconfig } from "./kubeconfig";

export interface Call {
  verb: "create" | "get" | "list" | "delete" | "watch" | "patch";
  /** Plural resource, e.g. `jobs`, `pods`, `pods/log`. */
  resource: string;
  namespace: string;
  /** Object name, when the call is about one object. */
  name?: string;
}

export class KubeHttp {
  readonly where: string;
  constructor(private readonly loaded: LoadedKubeconfig) {
    this.where = `${redactUrl(loaded.server)} (context ${JSON.stringify(loaded.context)})`;
  }

  private async open(
    method: string,
    path: string,
    query: Record<string, string | undefined>,
    body: unknown,
    call: Call,
    signal?: AbortSignal,
    contentType = "application/json",
  ): Promise<IncomingMessage> {
    const url = new URL(this.loaded.server.replace(/\/+$/, "") + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const opts: RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.loaded.kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload)
      Object.assign(opts.headers as Record<string, unknown>, {
        "Content-Type": contentType,
        "Content-Length": payload.length,
      });
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    if (url.protocol === "http:") delete opts.agent; // an https.Agent cannot carry plain HTTP
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...opts, signal }, resolve);
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (signal?.aborted) return reject(new PipelineError("E_ABORTED", "aborted"));
        reject(
          new PipelineError(
            "E_K8S_UNREACHABLE",
            `${describeCall(call)}: cannot reach the Kubernetes API at ${this.where}: ${e.code ?? e.message}`,
          ),
        );
      });
      req.end(payload);
    });
  }

  /** A JSON call; non-2xx answers become PipelineErrors (see the module comment). */
  // biome-ignore lint/suspicious/noExplicitAny: untyped JSON from the API server unless the caller names its shape
  async json<T = Record<string, any>>(
    method: string,
    path: string,
    call: Call,
    opts: {
      query?: Record<string, string | undefined>;
      body?: unknown;
      signal?: AbortSignal;
      /** The body's type: a PATCH sends `application/merge-patch+json`. */
      contentType?: string;
    } = {},
  ): Promise<T> {
    const res = await this.open(method, path, opts.query ?? {}, opts.body, call, opts.signal, opts.contentType);
    const text = await readAll(res, call, this.where);
    if ((res.statusCode ?? 0) >= 300) throw statusError(res.statusCode ?? 0, text, call, this.where);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new PipelineError(
        "E_K8S_API",
        `${describeCall(call)}: the API server at ${this.where} answered ${res.statusCode} with a body that is not JSON`,
      );
    }
  }

  /** A streamed GET (pod logs): resolves once the answer's status is 2xx, with the body still flowing. */
  async stream(
    path: string,
    call: Call,
    query: Record<string, string | undefined>,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const res = await this.open("GET", path, query, undefined, call, signal);
    if ((res.statusCode ?? 0) >= 300)
      throw statusError(res.statusCode ?? 0, await readAll(res, call, this.where), call, this.where);
    return res;
  }
}

function readAll(res: IncomingMessage, call: Call, where: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", () =>
      reject(
        new PipelineError(
          "E_K8S_UNREACHABLE",
          `${describeCall(call)}: the connection to ${where} broke while reading the answer`,
        ),
      ),
    );
  });
}

export function describeCall(c: Call): string {
  return `${c.verb} ${c.resource}${c.name ? ` ${JSON.stringify(c.name)}` : ""} in namespace ${JSON.stringify(c.namespace)}`;
}

function statusError(status: number, text: string, call: Call, where: string): PipelineError {
  let message = "";
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    message = text;
  }
  message = message.replace(/\s+/g, " ").trim().slice(0, 500);
  const head = `${describeCall(call)}: the API server at ${where} answered ${status}`;
  if (status === 403) {
    return new PipelineError(
      "E_K8S_FORBIDDEN",
      `${head} Forbidden — the kubeconfig's user may not ${call.verb} ${call.resource} in namespace ${JSON.stringify(call.namespace)} (RBAC)${message ? `: ${message}` : ""}`,
    );
  }
  if (status === 401)
    return new PipelineError(
      "E_K8S_API",
      `${head} Unauthorized — the kubeconfig's credentials were rejected${message ? `: ${message}` : ""}`,
    );
  if (status === 404) return new PipelineError("E_K8S_NOT_FOUND", `${head} Not Found${message ? `: ${message}` : ""}`);
  return new PipelineError("E_K8S_API", `${head}${message ? `: ${message}` : ""}`);
}
