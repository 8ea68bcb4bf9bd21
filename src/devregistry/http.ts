/**
 * HTTP plumbing for the dev registry: the distribution spec's error bodies, name/tag/digest checks,
 * small-body reads, Content-Range parsing and Basic auth. No registry state lives here.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Storage } from "./storage";
import type { Uploads } from "./uploads";

/** The repository name grammar from the distribution spec. */
export const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** Clients cap `host[:port]/name` at 255 characters; this leaves room for a host. */
export const MAX_NAME_LENGTH = 200;
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Any well-formed digest (the spec's grammar); only sha256 is supported for storage. */
export const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
export const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
export const API_VERSION_HEADER = "Docker-Distribution-API-Version";
export const API_VERSION = "registry/2.0";
export const REALM = "pipeline-dev-registry";

export type ErrorCode =
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
  /** Internal failures (5xx), as the reference registry names them. */
  | "UNKNOWN";

export interface ErrorEntry {
  code: ErrorCode;
  message: string;
  detail?: unknown;
}

/** An error answered to the client as `{"errors":[{code,message,detail}]}` with `status`. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
    /** Further errors reported in the same body (e.g. one MANIFEST_BLOB_UNKNOWN per missing blob). */
    readonly more: ErrorEntry[] = [],
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

export function errorBody(err: RegistryError): Buffer {
  const first: ErrorEntry = { code: err.code, message: err.message };
  if (err.detail !== undefined) first.detail = err.detail;
  return Buffer.from(JSON.stringify({ errors: [first, ...err.more] }));
}

/** What a handler gets: the exchange, the stores, and a counter for the log line. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  storage: Storage;
  uploads: Uploads;
  /** Request body bytes consumed by the handler. */
  bytesIn: number;
}

/** Sends a complete response with a known body; HEAD gets the headers (with Content-Length) only. */
export function sendBody(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  body: Buffer,
  headers: Record<string, string | number> = {},
): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader("Content-Length", body.length);
  res.end(req.method === "HEAD" ? undefined : body);
}

export function sendJson(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  value: unknown,
  headers: Record<string, string | number> = {},
): void {
  sendBody(res, req, status, Buffer.from(JSON.stringify(value)), { "Content-Type": "application/json", ...headers });
}

/** Sends an empty-bodied response (202/201/204 answers of the upload API). */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (status !== 204 && status !== 304) res.setHeader("Content-Length", 0);
  res.end();
}

export function sendError(res: ServerResponse, req: IncomingMessage, err: RegistryError): void {
  sendBody(res, req, err.status, errorBody(err), { "Content-Type": "application/json", ...err.headers });
}

/** Reads a whole (small) request body, answering 413 beyond `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) {
    throw new RegistryError(413, "SIZE_INVALID", `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      throw new RegistryError(413, "SIZE_INVALID", `request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a request body we do not use, so keep-alive connections stay usable. */
export function discardBody(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume();
}

export function validateName(name: string): string {
  if (name.length > MAX_NAME_LENGTH || !NAME_RE.test(name)) {
    throw new RegistryError(400, "NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, { name });
  }
  return name;
}

/** Accepts sha256 digests; other well-formed algorithms are unsupported here. */
export function validateDigest(digest: string | null | undefined, what = "digest"): string {
  if (digest && SHA256_RE.test(digest)) return digest;
  const why = digest && ANY_DIGEST_RE.test(digest) ? "only sha256 digests are supported" : "expected sha256:<64 hex>";
  throw new RegistryError(400, "DIGEST_INVALID", `invalid ${what} ${JSON.stringify(digest ?? "")}: ${why}`, { digest: digest ?? "" });
}

/**
 * Parses a chunk's Content-Range, `start-end` inclusive as the spec writes it; a `bytes ` or `bytes=`
 * prefix and a `/total` suffix (what some clients send) are tolerated. Returns undefined when unparseable.
 */
export function parseContentRange(value: string): { start: number; end: number } | undefined {
  const m = /^(?:bytes[ =])?\s*(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

/** The `Range` header of an upload holding `size` bytes, as the reference registry writes it. */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so that lengths never leak and timingSafeEqual gets equal-length inputs.
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

/** True when `authorization` is `Basic base64(user:password)` for exactly this user and password. */
export function basicAuthOk(authorization: string | undefined, user: string, password: string): boolean {
  if (!authorization) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization);
  if (!m) return false;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return false;
  const userOk = sameSecret(decoded.slice(0, colon), user);
  const passOk = sameSecret(decoded.slice(colon + 1), password);
  return userOk && passOk;
}

export function unauthorized(): RegistryError {
  return new RegistryError(401, "UNAUTHORIZED", "authentication required", undefined, {
    "WWW-Authenticate": `Basic realm="${REALM}"`,
  });
}
