/**
 * One attempt of a registry request (./http.ts's HttpTransport runs them, with retries and redirects): the request and
 * response nouns, the request sent on node:http/https with its body (bytes, a stream or chunks reopened per attempt),
 * the response's headers awaited within the transfer rate's bound, and the response whose body reads (buffer, text,
 * discard) are bounded in size and held to the minimum transfer rate (transfer-rate.ts). An error answer's body is
 * read at once, so that a cut-off one is retried like a dropped connection.
 */
import * as http from "node:http";
import type * as https from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { type ChunkSource, isReadable, pump } from "./body-chunks";
import { registryUrl } from "./registry-text";
import { type TransferRate, tooSlowError, watchTransferRate } from "./transfer-rate";

/** A request body: bytes, or a factory opening a fresh stream (or chunk source) for each attempt. */
export type BodySource = Buffer | (() => Readable | ChunkSource);

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: BodySource;
  /** Sent as Content-Length (required for streamed bodies: registries reject chunked encoding). */
  contentLength?: number;
  /** Retry connection errors, 5xx and 429 (default true). */
  retry?: boolean;
  /** Follow 3xx responses (default true). */
  followRedirects?: boolean;
  /** Accept invalid TLS certificates (an explicitly insecure registry). */
  insecureTls?: boolean;
  /**
   * Opens the connection of every attempt and hop (no agent, so none is kept alive) and hears each response as its
   * headers are parsed: how a blob's body is read without node:http's copies (blob-fetch.ts).
   */
  connection?: Connector;
}

/** HttpRequest.connection. */
export interface Connector {
  /** A new connection to `url`'s host (node:net or node:tls). */
  connect(url: URL, insecureTls: boolean): Socket;
  /** Called in node:http's 'response' event, before any byte of the body is handed on. */
  responded(res: IncomingMessage): void;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  body: IncomingMessage;
  header(name: string): string | undefined;
  /** Reads the body (at most `limit` bytes, default 4 MiB; longer bodies are an error). */
  buffer(limit?: number): Promise<Buffer>;
  text(limit?: number): Promise<string>;
  /** Drains and drops the body so the socket can be reused. */
  discard(): Promise<void>;
}

/** Error raised by a request body's own stream: local trouble, never retried. */
export class BodyError extends Error {
  constructor(readonly inner: unknown) {
    super((inner as Error)?.message ?? String(inner));
  }
}

/** A body read (buffer, text) that would exceed `limit` bytes. */
const tooLarge = (url: URL, limit: number) =>
  new PipelineError("E_REGISTRY", `response from ${registryUrl(url)} is larger than ${limit} bytes`);

/** How much of an error answer's body is read (its error codes): responseError reads no more. */
export const ERROR_BODY_LIMIT = 64 * 1024;

/** The most of a body discard() drains to keep its connection; a longer one is destroyed instead. */
export const DISCARD_LIMIT = 1024 * 1024;

/**
 * An error answer (4xx, or a 5xx once retries are spent) with its body read at once, up to ERROR_BODY_LIMIT bytes:
 * the body carries the registry's error codes (MANIFEST_BLOB_UNKNOWN, which a push retries; DENIED, NAME_UNKNOWN), so
 * one the network cut off is `cut` — retried like any dropped connection instead of reaching the caller without
 * them. A body too large or too slow is kept as its PipelineError, which buffer() and text() throw, as before.
 */
export async function readErrorAnswer(res: HttpResponse): Promise<{ res: HttpResponse; cut?: unknown }> {
  let bytes: Buffer = Buffer.alloc(0);
  let failure: unknown;
  try {
    bytes = await res.buffer(ERROR_BODY_LIMIT);
  } catch (e) {
    failure = e;
  }
  const buffer = async (limit = ERROR_BODY_LIMIT): Promise<Buffer> => {
    if (failure !== undefined) throw failure;
    if (bytes.length > limit) throw tooLarge(res.url, limit);
    return bytes;
  };
  const read: HttpResponse = {
    ...res,
    buffer,
    text: async (limit) => (await buffer(limit)).toString("utf8"),
    async discard() {},
  };
  return failure !== undefined && !(failure instanceof PipelineError) ? { res: read, cut: failure } : { res: read };
}

export function makeResponse(
  res: IncomingMessage,
  url: URL,
  method: string,
  rate: TransferRate,
  server: string,
): HttpResponse {
  // A body that is empty by definition is drained now, so the keep-alive socket goes back to the agent (which
  // unrefs it) even when the caller never reads it; otherwise every HEAD would pin a socket and the process.
  if (method === "HEAD" || res.statusCode === 204 || res.statusCode === 304 || res.headers["content-length"] === "0")
    res.resume();
  const tooSlow = (m: { bytes: number; ms: number }) =>
    res.destroy(tooSlowError(`${method} ${registryUrl(url)}: ${server}`, rate, m));
  // Read in flowing mode ('data'), not with an async iterator: the rate watcher counts only time the body flows.
  const buffer = (limit = 4 * 1024 * 1024): Promise<Buffer> =>
    new Promise<Buffer>((resolve, reject) => {
      if (res.readableEnded) return resolve(Buffer.alloc(0));
      const chunks: Buffer[] = [];
      let n = 0;
      const stop = watchTransferRate(res, rate, tooSlow);
      const done = (e?: unknown) => {
        stop();
        res.off("data", onData);
        if (e) reject(e);
        else resolve(Buffer.concat(chunks));
      };
      const onData = (chunk: Buffer) => {
        n += chunk.length;
        if (n > limit) {
          res.destroy();
          done(tooLarge(url, limit));
          return;
        }
        chunks.push(chunk);
      };
      res.on("data", onData);
      res.once("end", () => done());
      res.once("error", done);
      res.once("close", () => {
        if (!res.readableEnded) done(res.errored ?? new Error(`the response from ${registryUrl(url)} ended early`));
      });
    });
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    url,
    body: res,
    header(name) {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(", ") : v;
    },
    buffer,
    text: async (limit) => (await buffer(limit)).toString("utf8"),
    async discard() {
      // Not `res.complete`: a small body can have arrived whole yet sit unread, and until it is read 'end' never
      // fires, so the socket is neither returned to the agent nor disarmed, and holds the process for its timeout.
      if (res.readableEnded || res.destroyed) return;
      const stop = watchTransferRate(res, rate, tooSlow);
      // A total bound too: a server sending an endless body fast is cut off (the connection is not worth keeping).
      let drained = 0;
      res.on("data", (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > DISCARD_LIMIT) res.destroy();
      });
      await new Promise<void>((resolve) => {
        res.once("end", resolve);
        res.once("error", () => resolve());
        res.once("close", resolve);
      });
      stop();
    },
  };
}

/** One attempt: sends the request and resolves when the response headers arrive. */
export function sendOnce(
  req: HttpRequest,
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
  headersTimeoutMs: number,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    // node:https (and TLS) load on the first https request only: a local registry never needs them.
    const mod: typeof http | typeof https = url.protocol === "https:" ? (require("node:https") as typeof https) : http;
    const opts: https.RequestOptions = { method: req.method, headers: { ...headers } };
    if (url.protocol === "https:" && req.insecureTls) opts.rejectUnauthorized = false;
    const connection = req.connection;
    if (connection) opts.createConnection = () => connection.connect(url, req.insecureTls === true);
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      r.destroy();
      reject(e);
    };
    let headersTimer: NodeJS.Timeout | undefined;
    const r = mod.request(url, opts, (res) => {
      clearTimeout(headersTimer);
      settled = true;
      connection?.responded(res);
      // The timeout is the socket's: disarm it once this exchange is over, before the socket is reused.
      res.once("end", () => r.setTimeout(0));
      // An answer that came and went while the body was still going (a registry giving up on a slow upload: 408) ends
      // the exchange: the request is destroyed, and with it the body's stream and what that stream reads from.
      res.once("close", () => {
        if (!r.writableFinished) r.destroy();
      });
      resolve(res);
    });
    r.setTimeout(timeoutMs, () => {
      const e = new Error(`no response within ${timeoutMs} ms`) as NodeJS.ErrnoException;
      e.code = "ETIMEDOUT";
      r.destroy(e);
    });
    r.on("error", (e) => {
      clearTimeout(headersTimer);
      fail(e);
    });
    // The headers' deadline runs from the request's last byte: the socket's idle timeout alone is reset by every byte,
    // so a registry sending its status line and headers a byte at a time would hold the request for ever. Only a
    // registry that did send something is cut off this way (not retried); a silent one is the idle timeout's (retried).
    if (headersTimeoutMs > 0) {
      r.once("finish", () => {
        const sent = r.socket?.bytesRead ?? 0;
        const check = (): void => {
          // Nothing yet: checked again shortly (the idle timeout ends a registry that stays silent).
          if ((r.socket?.bytesRead ?? 0) === sent) {
            headersTimer = setTimeout(check, Math.max(10, headersTimeoutMs / 10));
            headersTimer.unref();
            return;
          }
          fail(
            new PipelineError(
              "E_REGISTRY_TOO_SLOW",
              `${req.method} ${registryUrl(url)}: the registry did not finish sending the response headers within ${headersTimeoutMs / 1000} s ` +
                `of the request; if it is that slow, raise the bound with $PIPELINE_RESPONSE_HEADERS_TIMEOUT`,
            ),
          );
        };
        headersTimer = setTimeout(check, headersTimeoutMs);
        headersTimer.unref();
      });
    }
    const body = req.body;
    if (body === undefined) {
      r.end();
    } else if (Buffer.isBuffer(body)) {
      r.end(body);
    } else {
      let stream: Readable | ChunkSource;
      try {
        stream = body();
      } catch (e) {
        fail(new BodyError(e));
        return;
      }
      if (!isReadable(stream)) {
        pump(r, stream).catch((e: unknown) => fail(e instanceof PipelineError ? e : new BodyError(e)));
        return;
      }
      stream.on("error", (e) => {
        fail(e instanceof PipelineError ? e : new BodyError(e));
        r.destroy();
      });
      r.on("close", () => {
        if (!stream.destroyed && !stream.readableEnded) stream.destroy();
      });
      stream.pipe(r);
    }
  });
}
