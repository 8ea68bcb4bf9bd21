/**
 * Turns registry responses into PipelineErrors with stable codes:
 * E_UNAUTHORIZED (401), E_DENIED (403), E_NOT_FOUND (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN or a
 * bare 404), E_REGISTRY (anything else: HTTP status plus the spec's error codes) and E_DIGEST_MISMATCH.
 * Messages name the registry, repository and operation, use redactUrl, and never echo credentials: what the
 * registry said (its body, its error entries, the URL that answered) goes through registryText first.
 */
import { type ErrorCode, PipelineError } from "../errors";
import { ERROR_BODY_LIMIT, type HttpResponse } from "./http-attempt";
import { registryText, registryUrl } from "./registry-text";

/** One entry of the distribution spec's error body `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface ErrorContext {
  registry: string;
  repository?: string;
  /** What was being done: "push blob sha256:...", "get manifest latest". */
  operation: string;
  /** Where the credentials came from, or "no credentials found; looked in ...". */
  credentialSource?: string;
}

const NOT_FOUND_CODES = new Set(["MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"]);
const MAX_TEXT = 300;

function clip(s: string): string {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > MAX_TEXT ? `${one.slice(0, MAX_TEXT)}...` : one;
}

/** The spec's error entries in a response body, code and message through registryText; [] when it is not that JSON. */
export function parseErrorBody(text: string): RegistryErrorEntry[] {
  try {
    const parsed = JSON.parse(text) as { errors?: unknown };
    if (!parsed || !Array.isArray(parsed.errors)) return [];
    return parsed.errors
      .filter(
        (e): e is Record<string, unknown> =>
          !!e && typeof e === "object" && typeof (e as { code?: unknown }).code === "string",
      )
      .map((e) => ({
        code: registryText(String(e.code)),
        message: typeof e.message === "string" ? registryText(e.message) : undefined,
        detail: e.detail,
      }));
  } catch {
    return [];
  }
}

/** `BLOB_UNKNOWN: blob unknown to registry; DENIED: ...` */
export function formatErrorEntries(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => clip(e.message ? `${e.code}: ${e.message}` : e.code)).join("; ");
}

function where(ctx: ErrorContext): string {
  return ctx.repository ? `${ctx.registry}/${ctx.repository}` : ctx.registry;
}

export function unauthorizedError(
  ctx: ErrorContext,
  why: string,
  entries: readonly RegistryErrorEntry[] = [],
): RegistryError {
  return new RegistryError(
    "E_UNAUTHORIZED",
    `${ctx.operation}: registry ${ctx.registry} refused access to ${ctx.repository ? `repository ${ctx.repository}` : "the registry"}` +
      ` (401 Unauthorized${why ? `: ${why}` : ""}); credentials: ${ctx.credentialSource ?? "none"}`,
    401,
    entries,
  );
}

/** A PipelineError built from a registry response: keeps the HTTP status and the spec's error entries. */
export class RegistryError extends PipelineError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly entries: readonly RegistryErrorEntry[],
  ) {
    super(code, message);
  }
  hasCode(...codes: string[]): boolean {
    return this.entries.some((e) => codes.includes(e.code));
  }
}

/** Builds the error for a failed response (reads up to 64 KiB of its body). */
export async function responseError(res: HttpResponse, ctx: ErrorContext): Promise<RegistryError> {
  let text = "";
  try {
    text = await res.text(ERROR_BODY_LIMIT);
  } catch (e) {
    // A body too slow to read is the registry's fault and says so (the rate seen); otherwise the status says enough.
    if (e instanceof PipelineError && e.code === "E_REGISTRY_TOO_SLOW") throw e;
  }
  const entries = parseErrorBody(text);
  const codes = formatErrorEntries(entries);
  const url = registryUrl(res.url);
  if (res.status === 401) return unauthorizedError(ctx, codes, entries);
  if (res.status === 403) {
    return new RegistryError(
      "E_DENIED",
      `${ctx.operation}: registry ${ctx.registry} denied access to ${where(ctx)} (403 Forbidden${codes ? `: ${codes}` : ""}); ` +
        `credentials: ${ctx.credentialSource ?? "none"}`,
      403,
      entries,
    );
  }
  if (res.status === 404 && (entries.length === 0 || entries.some((e) => NOT_FOUND_CODES.has(e.code)))) {
    return new RegistryError(
      "E_NOT_FOUND",
      `${ctx.operation}: not found in ${where(ctx)} (404${codes ? `: ${codes}` : ""}; ${url})`,
      404,
      entries,
    );
  }
  const detail = codes || (text && !text.trimStart().startsWith("<") ? clip(registryText(text)) : "");
  return new RegistryError(
    "E_REGISTRY",
    `${ctx.operation}: registry ${ctx.registry} answered HTTP ${res.status}${detail ? ` (${detail})` : ""} for ${url}`,
    res.status,
    entries,
  );
}

export function digestMismatchError(ctx: ErrorContext, expected: string, actual: string, what: string): PipelineError {
  return new PipelineError(
    "E_DIGEST_MISMATCH",
    `${ctx.operation}: ${what} from ${where(ctx)} has digest ${actual}, expected ${expected}`,
  );
}
