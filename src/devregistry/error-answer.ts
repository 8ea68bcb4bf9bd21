/**
 * The distribution spec's error answer: `ErrorAnswer` carries the HTTP status, the spec's code, a message
 * and optional detail and headers; `errorBody` renders `{"errors":[{code,message,detail}]}`. Depends on
 * nothing, so every other dev-registry module can throw it.
 */

export type ErrorAnswerCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  /** 429: a bounded resource (open upload sessions) is exhausted; Retry-After says when to try again. */
  | "TOOMANYREQUESTS"
  /** Failures that are not about the request's content: internal errors (5xx) and stalled requests (408). */
  | "UNKNOWN";

export interface ErrorEntry {
  code: ErrorAnswerCode;
  message: string;
  detail?: unknown;
}

/** An error answered to the client as `{"errors":[{code,message,detail}]}` with `status`. */
export class ErrorAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorAnswerCode,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
    /** Further errors reported in the same body (e.g. one MANIFEST_BLOB_UNKNOWN per missing blob). */
    readonly more: ErrorEntry[] = [],
  ) {
    super(message);
    this.name = "ErrorAnswer";
  }
}

export function errorBody(err: ErrorAnswer): Buffer {
  const first: ErrorEntry = { code: err.code, message: err.message };
  if (err.detail !== undefined) first.detail = err.detail;
  return Buffer.from(JSON.stringify({ errors: [first, ...err.more] }));
}
