/**
 * AWS Signature Version 4 for S3 requests (the S3 object store, s3.ts): the canonical request, the string to sign and
 * the Authorization header, as AWS documents them ("Signature Version 4 signing process"; s3.test.ts checks AWS's
 * published examples). Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { createHash, createHmac } from "node:crypto";

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** A temporary credential's token (STS, SSO, a role): sent as x-amz-security-token and signed. */
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  /** The Host header's value: the host, and the port when it is not the scheme's default. */
  host: string;
  /** The path, already URI-encoded (uriPath): S3 signs it as sent, without encoding it a second time. */
  path: string;
  /** Query parameters, not encoded. */
  query?: Record<string, string>;
  /** Other headers to send and sign (names in any case). */
  headers?: Record<string, string>;
  /** The hex sha256 of the body (sha256Hex). S3 wants it sent as x-amz-content-sha256 too: the caller adds it. */
  payloadHash: string;
  region: string;
  service?: string;
  credentials: S3Credentials;
  /** The signing time (now by default). */
  date?: Date;
}

/** The sha256 of an empty body, which GET and HEAD send. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** RFC 3986 encoding as SigV4 wants it: every byte but the unreserved characters as %XX, uppercase hex. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A path of segments joined by "/", each encoded (S3 keys are encoded once; the slashes stay). */
export function uriPath(segments: string[]): string {
  return `/${segments.map((s) => s.split("/").map(uriEncode).join("/")).join("/")}`;
}

/** `20150830T123600Z`. */
export function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

export interface Signed {
  /** The headers to send: the input's (names lowercased), host, x-amz-date, the token, and authorization. */
  headers: Record<string, string>;
  /** The canonical request and string to sign, for tests and for telling a SignatureDoesNotMatch apart. */
  canonicalRequest: string;
  stringToSign: string;
}

/** Signs a request: the headers to send with it. */
export function signV4(input: SignInput): Signed {
  const service = input.service ?? "s3";
  const when = amzDate(input.date ?? new Date());
  const day = when.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v;
  headers.host = input.host;
  headers["x-amz-date"] = when;
  if (input.credentials.sessionToken) headers["x-amz-security-token"] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n].trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const query = Object.entries(input.query ?? {})
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalRequest = [input.method, input.path, query, canonicalHeaders, signedHeaders, input.payloadHash].join(
    "\n",
  );
  const scope = `${day}/${input.region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", when, scope, sha256Hex(canonicalRequest)].join("\n");
  const kDate = hmac(`AWS4${input.credentials.secretAccessKey}`, day);
  const kSigning = hmac(hmac(hmac(kDate, input.region), service), "aws4_request");
  const signature = hmac(kSigning, stringToSign).toString("hex");
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers, canonicalRequest, stringToSign };
}
