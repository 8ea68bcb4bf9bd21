/**
 * One S3 request over node:http(s), with the S3 store's timeouts and bounded retries (s3.ts). Part of
 * `@rules_pipeline/runtime`: Node built-ins only.
 */
import { Agent as HttpAgent, type ClientRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { ObjectStoreError, STORE_CONCURRENCY } from "./object-store";

export interface S3Timeouts {
  /** To open the connection (TCP, and TLS for https). */
  connectMs: number;
  /** From the request's last byte to the answer's headers. */
  headersMs: number;
  /** The longest silence while a body is sent or received. */
  idleMs: number;
}

export interface S3Call<T> {
  /** Starts the request (signed again at each attempt: the signature carries the time). */
  open: () => ClientRequest;
  body?: Buffer;
  /** Reads the answer. An ObjectStoreError it throws is final; a broken stream is retried like a broken connection. */
  read: (res: IncomingMessage) => Promise<T>;
  maxAttempts: number;
  timeouts: S3Timeouts;
  /** What and where, for messages: `s3://maps/runs/blobs/sha256/… at http://127.0.0.1:8333 (GET)`. */
  what: string;
}

/** S3's answers worth another attempt: an internal error, a gateway's, 503 SlowDown (S3 asks to back off). */
const RETRY_STATUS = new Set([500, 502, 503, 504]);
/** Network failures worth another attempt; any other (no such host, a certificate refused) is final. */
const RETRY_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ECONNABORTED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * A store's own pool of connections (s3.ts, one per store): kept alive between requests, at most STORE_CONCURRENCY
 * at once. Not Node's global agent, whose sockets time out 5 s after they are made (Node 19+), while connecting too:
 * that ended a connection slower than 5 s to open (connectMs allows 10) as if it had been idle for the idle timeout,
 * and opened as many connections as there were requests in flight.
 */
export function storeAgent(protocol: string): HttpAgent {
  const options = { keepAlive: true, maxSockets: STORE_CONCURRENCY };
  return protocol === "https:" ? new HttpsAgent(options) : new HttpAgent(options);
}

/** One of ours: retried as a timed-out connection is; its message says which wait ran out. */
class S3Timeout extends Error {
  readonly code = "ETIMEDOUT";
}
function timeout(message: string): Error {
  return new S3Timeout(message);
}

/** One attempt: the answer once its headers are in; the connect, headers and idle timeouts armed. */
function attempt(call: S3Call<unknown>): Promise<IncomingMessage> {
  const { connectMs, headersMs, idleMs } = call.timeouts;
  return new Promise((resolve, reject) => {
    const req = call.open();
    let headersTimer: NodeJS.Timeout | undefined;
    const connectTimer = setTimeout(() => req.destroy(timeout(`no connection in ${connectMs} ms`)), connectMs);
    req.on("socket", (socket) => {
      // A kept-alive socket is connected already; a new one is once its TLS handshake (https) or TCP connect is done.
      if (!socket.connecting) clearTimeout(connectTimer);
      else socket.once("encrypted" in socket ? "secureConnect" : "connect", () => clearTimeout(connectTimer));
    });
    let response: IncomingMessage | undefined;
    // Once the answer has come, its reader is the one to fail (else it sees a bare "aborted").
    req.setTimeout(idleMs, () => (response ?? req).destroy(timeout(`idle for ${idleMs} ms`)));
    req.on("finish", () => {
      headersTimer = setTimeout(() => req.destroy(timeout(`no answer in ${headersMs} ms`)), headersMs);
    });
    req.on("error", (e) => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
      reject(e);
    });
    req.on("response", (res) => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
      response = res;
      resolve(res);
    });
    req.end(call.body);
  });
}

function retryable(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return (code !== undefined && RETRY_CODES.has(code)) || (e as Error)?.message === "aborted";
}

/** Runs `call` up to maxAttempts times, backing off (250 ms doubling, at most 4 s, jittered) between attempts. */
export async function requestWithRetries<T>(call: S3Call<T>): Promise<T> {
  for (let n = 1; ; n++) {
    const last = n >= call.maxAttempts;
    try {
      const res = await attempt(call);
      if (!last && RETRY_STATUS.has(res.statusCode ?? 0)) {
        res.resume();
      } else {
        return await call.read(res);
      }
    } catch (e) {
      if (e instanceof ObjectStoreError) throw e;
      if (last || !retryable(e)) {
        const err = e as { code?: string; message?: string };
        const silent = err.code === "ECONNREFUSED" || (e instanceof S3Timeout && !err.message?.startsWith("idle"));
        const code = err.code && !(e instanceof S3Timeout) && !err.message?.includes(err.code) ? ` (${err.code})` : "";
        throw new ObjectStoreError(
          "E_MAP_STORE",
          `${call.what}: ${silent ? "the endpoint does not answer: " : ""}${err.message ?? String(e)}${code}` +
            ` (${n} attempt${n === 1 ? "" : "s"})`,
        );
      }
    }
    const delay = Math.min(250 * 2 ** (n - 1), 4000);
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
  }
}
