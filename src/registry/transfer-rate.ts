/**
 * The minimum transfer rate of a download (a blob from a registry): a registry that keeps a connection alive with a
 * byte now and then (a slowloris: 1 byte every 10 s never trips the socket's idle timeout) is cut off with
 * E_REGISTRY_TOO_SLOW instead of holding a pull forever.
 *
 * Why a rate and not a deadline scaled by the blob's size: the rate is measured only while we are waiting for the
 * registry, that is while the response is flowing (its consumer reads). When the consumer is slow (a slow disk,
 * unpacking, a paused pipe) the stream is paused by backpressure and that time is not counted, so a slow consumer is
 * never blamed on the registry; a deadline cannot tell the two apart. And a rate needs no size up front.
 *
 * How: every `windowMs` of flowing time, the bytes that arrived in it must be at least `minBytesPerSecond` times
 * its length. A registry sending just above the rate is bounded only by the blob's size (the descriptor's, checked
 * by the VerifyStream), which is what the rate buys: progress, not speed.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { DEFAULT_LIMITS, type LayerLimits } from "../layer/limits";
import { type RateShortfall, RateWindow } from "../rate-window";

export interface TransferRate {
  /** Bytes per second the registry must send while we read; 0 turns the check off. */
  minBytesPerSecond: number;
  /** Flowing time over which the rate is averaged. */
  windowMs: number;
  /** The longest a response's headers may take to arrive once the request is sent (src/registry/http.ts); 0: unbounded. */
  headersTimeoutMs: number;
}

/** The rate `limits` ask for (default: 1 KiB/s over 30 s, headers within 60 s; src/layer/limits.ts). */
export function transferRateOf(
  limits: Pick<LayerLimits, "minTransferRate" | "transferRateWindow" | "responseHeadersTimeout"> = DEFAULT_LIMITS,
): TransferRate {
  return {
    minBytesPerSecond: limits.minTransferRate,
    windowMs: limits.transferRateWindow,
    headersTimeoutMs: limits.responseHeadersTimeout,
  };
}

/** What was measured when a transfer was too slow. */
export type SlowTransfer = RateShortfall;

/**
 * Watches `body` (a response being read) and calls `onTooSlow` once when, over a window of time spent flowing, it
 * delivered fewer bytes than the rate asks. Stops by itself when the body ends, errors or closes; returns a stop
 * function too. Attach it once the body is being consumed (piped): it counts bytes with a 'data' listener.
 */
export function watchTransferRate(
  body: Readable,
  rate: Pick<TransferRate, "minBytesPerSecond" | "windowMs">,
  onTooSlow: (m: SlowTransfer) => void,
): () => void {
  if (!(rate.minBytesPerSecond > 0) || !(rate.windowMs > 0)) return () => {};
  let bytes = 0;
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
  };
  // Paused (backpressure from a slow consumer, or nobody reading yet): that time is the consumer's, not the registry's.
  const stopWatch = watchRate(
    rate,
    () => ({ bytes, waiting: body.readableFlowing === true, consumerMs: 0 }),
    (m) => {
      stop();
      onTooSlow(m);
    },
  );
  const stop = () => {
    stopWatch();
    body.off("data", onData);
    body.off("end", stop);
    body.off("close", stop);
    body.off("error", stop);
  };
  body.on("data", onData);
  body.once("end", stop);
  body.once("close", stop);
  body.once("error", stop);
  return stop;
}

/** What watchRate samples: the bytes so far, whether we are waiting on the registry now, and the consumer's time so far. */
export interface RateSample {
  bytes: number;
  /** False while the transfer is paused for its consumer (or nobody reads yet): that time is not counted. */
  waiting: boolean;
  /** Milliseconds the consumer has spent so far inside synchronous calls (not counted either). */
  consumerMs: number;
}

/**
 * The timer behind every transfer-rate check: samples a transfer every tenth of a window and calls `onTooSlow` once
 * (and stops) when a window of time spent waiting on the registry delivered fewer bytes than the rate asks. Returns
 * the stop function. watchTransferRate samples a Readable; a blob read straight into a file (blob-fetch.ts) samples
 * its own counters.
 */
export function watchRate(
  rate: Pick<TransferRate, "minBytesPerSecond" | "windowMs">,
  sample: () => RateSample,
  onTooSlow: (m: SlowTransfer) => void,
): () => void {
  if (!(rate.minBytesPerSecond > 0) || !(rate.windowMs > 0)) return () => {};
  let last = Date.now();
  let consumed = sample().consumerMs;
  const judged = new RateWindow(rate.minBytesPerSecond, rate.windowMs);
  const every = Math.max(10, Math.floor(rate.windowMs / 10));
  const timer = setInterval(() => {
    const now = Date.now();
    const s = sample();
    // A tick that comes late says this process was held up (a long synchronous call, a starved machine), not the
    // registry: what it sent meanwhile waits unread until the event loop's I/O phase, after this tick. At most two
    // intervals count per tick, so a stall of ours alone never fills a window.
    const counted = s.waiting ? Math.max(0, Math.min(now - last, 2 * every) - (s.consumerMs - consumed)) : 0;
    last = now;
    consumed = s.consumerMs;
    const short = judged.tick(counted, s.bytes);
    if (short) {
      clearInterval(timer);
      onTooSlow(short);
    }
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

/** `0.3 B/s`, `12.5 KiB/s`: a measured rate for messages. */
export function formatRate(bytes: number, ms: number): string {
  const perSecond = ms > 0 ? (bytes * 1000) / ms : 0;
  if (perSecond < 1024) return `${perSecond < 10 ? perSecond.toFixed(1) : Math.round(perSecond)} B/s`;
  const kib = perSecond / 1024;
  if (kib < 1024) return `${kib < 10 ? kib.toFixed(1) : Math.round(kib)} KiB/s`;
  const mib = kib / 1024;
  return `${mib < 10 ? mib.toFixed(1) : Math.round(mib)} MiB/s`;
}

/**
 * E_REGISTRY_TOO_SLOW for a response read slower than `rate`: `what` names it (`get blob sha256:… from HOST/REPO:
 * registry HOST`, `GET URL: the registry`), then the rate seen and how to lower the minimum.
 */
export function tooSlowError(
  what: string,
  rate: Pick<TransferRate, "minBytesPerSecond">,
  m: SlowTransfer,
): PipelineError {
  return new PipelineError(
    "E_REGISTRY_TOO_SLOW",
    `${what} sent it at ${formatRate(m.bytes, m.ms)} (${m.bytes} bytes in ${(m.ms / 1000).toFixed(1)} s of reading), ` +
      `below the minimum transfer rate of ${formatRate(rate.minBytesPerSecond, 1000)}; if the link is that slow, lower it with --min-transfer-rate or $PIPELINE_MIN_TRANSFER_RATE (0 turns it off)`,
  );
}
