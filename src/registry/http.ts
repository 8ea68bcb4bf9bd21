/**
 * HTTP transport for registry traffic on node:http/https: streamed request bodies that are reopened on
 * every attempt, retries with exponential backoff and jitter (connection errors, timeouts, 5xx, 429 with
 * Retry-After up to a bound, E_REGISTRY_BUSY beyond it), and redirects that never carry Authorization to another host.
 *
 * Every response is bounded in time whatever the registry does (issue #41): its headers must arrive within
 * `TransferRate.headersTimeoutMs` of the request being sent (a registry trickling them a byte at a time is cut off,
 * E_REGISTRY_TOO_SLOW), and a body read here (buffer, text, discard: manifests, indexes, referrer listings, tag lists,
 * token responses, error bodies) is held to the same minimum transfer rate as a streamed blob (transfer-rate.ts).
 *
 * The same holds for every server this transport reads, which we do not run either (a registry, a redirect target, a
 * Bazel HTTP cache: src/transfer/bazel-cache.ts): a streamed body is read through HttpTransport.feed (the rate, the
 * descriptor's size as its total bound, destroyed with its reader), a discarded one is drained to a bound, and a
 * request whose answer came and went while its body was still being sent is destroyed with that body's stream, so an
 * attempt that failed or was retried leaves nothing open behind it (issue #72: a push whose upload a registry answered
 * 408 kept the Bazel cache responses it was streaming from open, and the process running, after its error). One
 * attempt, its request and response: ./http-attempt.ts.
 */
import { PipelineError } from "../errors";
import type { VerifyStream } from "../oci/verifying-stream";
import {
  BodyError,
  type HttpRequest,
  type HttpResponse,
  makeResponse,
  readErrorAnswer,
  sendOnce,
} from "./http-attempt";
import { registryText, registryUrl } from "./registry-text";
import { type TransferRate, tooSlowError, transferRateOf, watchTransferRate } from "./transfer-rate";

export interface RetryOptions {
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** First backoff delay; doubles each retry, with full jitter (default 250 ms). */
  baseDelayMs?: number;
  /** Cap for one backoff delay (default 10 s). */
  maxDelayMs?: number;
  /**
   * The longest Retry-After we wait (default 60 s). A server asking for longer is not retried:
   * E_REGISTRY_BUSY names the registry and the wait it asked for (a registry full of upload sessions once
   * asked for an hour, and a push sat through four one-minute retries before failing anyway).
   */
  maxRetryAfterMs?: number;
  /** Socket idle timeout: connecting, waiting for headers, or a stalled body (default 60 s). */
  timeoutMs?: number;
}

/** Names the registry and operation in errors: `push blob sha256:... to 127.0.0.1:5000/app`. */
export interface RequestContext {
  registry: string;
  operation: string;
}

export type Logger = (line: string) => void;

const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ESOCKETTIMEDOUT",
  "UND_ERR_SOCKET",
]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

export function isRetryableError(err: unknown): boolean {
  if (err instanceof BodyError || err instanceof PipelineError) return false;
  const e = err as NodeJS.ErrnoException;
  if (e?.code && RETRYABLE_CODES.has(e.code)) return true;
  return /socket hang up|timed? ?out/i.test(e?.message ?? "");
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Retry-After as milliseconds from `now` (delta seconds or an HTTP date); undefined when absent/invalid. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[A-Za-z]{3}/.test(v)) return undefined; // V8's Date.parse also takes "-1" or "2024"
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** Full-jitter exponential backoff: random in [base*2^attempt / 2, base*2^attempt], capped. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function errnoOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends requests with retries and redirects. One transport serves a whole push or pull. */
export class HttpTransport {
  readonly retry: Required<RetryOptions>;
  /**
   * `rate`: how slow a response may be (its headers' deadline and its body's minimum transfer rate; default: the
   * limits' defaults, src/layer/limits.ts).
   */
  constructor(
    retry: RetryOptions = {},
    private readonly log: Logger = () => {},
    private readonly userAgent = "rules_pipeline",
    readonly rate: TransferRate = transferRateOf(),
    /** Names the server in errors: `the registry`, `the Bazel remote cache`. */
    readonly server = "the registry",
  ) {
    this.retry = {
      retries: retry.retries ?? 4,
      baseDelayMs: retry.baseDelayMs ?? 250,
      maxDelayMs: retry.maxDelayMs ?? 10_000,
      maxRetryAfterMs: retry.maxRetryAfterMs ?? 60_000,
      timeoutMs: retry.timeoutMs ?? 60_000,
    };
  }

  /**
   * Sends `req`, retrying and following redirects. Returns any final response (including 4xx/5xx once
   * retries are spent). Throws E_REGISTRY_UNREACHABLE when no response could be had.
   */
  async request(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const maxAttempts = req.retry === false ? 1 : this.retry.retries + 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.followRedirects(req);
      } catch (e) {
        if (e instanceof BodyError) {
          throw new PipelineError("E_BLOB_READ", `${ctx.operation}: cannot read the content to send: ${e.message}`, {
            cause: e.inner,
          });
        }
        if (!isRetryableError(e)) {
          if (e instanceof PipelineError) throw e;
          throw this.unreachable(req, ctx, e, attempt + 1);
        }
        lastError = e;
        if (attempt + 1 < maxAttempts)
          await this.pause(`${req.method} ${registryUrl(req.url)}: ${errnoOf(e)}`, attempt, maxAttempts);
        continue;
      }
      if (!isRetryableStatus(res.status) || attempt + 1 >= maxAttempts) {
        if (res.status < 400) return res;
        const answer = await readErrorAnswer(res);
        if (answer.cut === undefined || attempt + 1 >= maxAttempts) return answer.res;
        lastError = answer.cut;
        await this.pause(
          `${req.method} ${registryUrl(res.url)}: HTTP ${res.status} whose body was cut off (${errnoOf(answer.cut)})`,
          attempt,
          maxAttempts,
        );
        continue;
      }
      const retryAfter = parseRetryAfter(res.header("retry-after"));
      if (retryAfter !== undefined && retryAfter > this.retry.maxRetryAfterMs) {
        await res.discard();
        throw new PipelineError(
          "E_REGISTRY_BUSY",
          `${ctx.operation}: registry ${ctx.registry} answered HTTP ${res.status} and asks to retry after ${Math.ceil(retryAfter / 1000)} s ` +
            `(Retry-After: ${JSON.stringify(registryText(res.header("retry-after") ?? ""))}), longer than the ${Math.ceil(this.retry.maxRetryAfterMs / 1000)} s we wait; try again later`,
        );
      }
      await res.discard();
      await this.pause(`${req.method} ${registryUrl(res.url)}: HTTP ${res.status}`, attempt, maxAttempts, retryAfter);
    }
    throw this.unreachable(req, ctx, lastError, maxAttempts);
  }

  /**
   * Streams a 200 answer's body into `out` (which checks it against its descriptor: the digest, and the size as the
   * total bound) at this transport's minimum transfer rate, E_REGISTRY_TOO_SLOW naming `what` when slower; the body is
   * destroyed with `out` (VerifyStream.feed), also when `out` was destroyed before the answer came. The one way a body
   * we stream from a server we do not run is read (RegistryClient.openBlob, BazelCache.open).
   */
  feed(out: VerifyStream, res: HttpResponse, what: string): void {
    if (out.destroyed) {
      res.body.destroy();
      return;
    }
    res.body.on("error", (e) => out.destroy(e));
    out.feed(res.body);
    const rate = this.rate;
    watchTransferRate(res.body, rate, (m) => out.destroy(tooSlowError(what, rate, m)));
  }

  /** Before attempt `attempt + 2` of `maxAttempts`: says why (`what`) and waits `delayMs`, else the backoff's delay. */
  private async pause(what: string, attempt: number, maxAttempts: number, delayMs?: number): Promise<void> {
    const delay = delayMs ?? backoffDelay(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs);
    this.log(`${what}; retrying in ${delay} ms (attempt ${attempt + 2}/${maxAttempts})`);
    await sleep(delay);
  }

  private unreachable(req: HttpRequest, ctx: RequestContext, err: unknown, attempts: number): PipelineError {
    return new PipelineError(
      "E_REGISTRY_UNREACHABLE",
      `${ctx.operation}: registry ${ctx.registry} is unreachable (${req.method} ${registryUrl(req.url)}: ${errnoOf(err)}` +
        `${attempts > 1 ? ` after ${attempts} attempts` : ""})`,
      { cause: err },
    );
  }

  private async followRedirects(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let method = req.method;
    let body = req.body;
    const headers: Record<string, string> = { "User-Agent": this.userAgent, ...(req.headers ?? {}) };
    if (req.contentLength !== undefined) headers["Content-Length"] = String(req.contentLength);
    else if (Buffer.isBuffer(body)) headers["Content-Length"] = String(body.length);
    else if (body === undefined && (method === "PUT" || method === "POST" || method === "PATCH"))
      headers["Content-Length"] = "0";
    const origin = req.url;
    for (let hop = 0; ; hop++) {
      const started = Date.now();
      const raw = await sendOnce(
        { ...req, method, body },
        url,
        headers,
        this.retry.timeoutMs,
        this.rate.headersTimeoutMs,
      );
      const res = makeResponse(raw, url, method, this.rate, this.server);
      this.log(`${method} ${registryUrl(url)} -> ${res.status} (${Date.now() - started} ms)`);
      if (req.followRedirects === false || !REDIRECTS.has(res.status)) return res;
      const location = res.header("location");
      if (!location) return res;
      if (hop >= MAX_REDIRECTS) {
        await res.discard();
        throw new PipelineError(
          "E_REGISTRY",
          `${req.method} ${registryUrl(req.url)}: more than ${MAX_REDIRECTS} redirects`,
        );
      }
      await res.discard();
      const next = new URL(location, url);
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
        delete headers["Content-Length"];
        delete headers["Content-Type"];
      }
      // Credentials belong to the registry: never forward them to another host or over a downgrade.
      if (!sameAuthority(origin, next)) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === "authorization") delete headers[k];
      }
      url = next;
    }
  }
}

/** True when `b` is the same host:port as `a` and does not downgrade https to http. */
export function sameAuthority(a: URL, b: URL): boolean {
  if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
  return !(a.protocol === "https:" && b.protocol === "http:");
}
