/**
 * Writing answers: a complete body (HEAD gets the headers only), JSON, an empty 2xx, or a ErrorAnswer in
 * the spec's error shape; and the API version header every answer carries.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody, type ErrorAnswer } from "./error-answer";

export const API_VERSION_HEADER = "Docker-Distribution-API-Version";
export const API_VERSION = "registry/2.0";

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

export function sendError(res: ServerResponse, req: IncomingMessage, err: ErrorAnswer): void {
  sendBody(res, req, err.status, errorBody(err), { "Content-Type": "application/json", ...err.headers });
}
