/**
 * The dev registry's resource bounds, so that abandoned, stalled or greedy clients cannot exhaust disk, memory or
 * file descriptors, nor lock others out:
 *
 *   maxUploads          open upload sessions at most (default 1000). Beyond, POST answers 429 TOOMANYREQUESTS
 *                       (the distribution spec's code for a rate limit). We refuse new sessions rather than evict
 *                       open ones, so a slow but live push is never cut off by a burst of new ones.
 *   maxUploadsPerClient open upload sessions of one client at most (default 64): a client is its authenticated
 *                       user when auth is on, else its remote address. 1000 anonymous POSTs from one address took
 *                       every session and locked every other push out; now they take 64. A push opens one
 *                       session per blob it uploads at once (our client: 4), so 64 leaves room for many.
 *   uploadIdleMs        a session no request touched for this long (default 5 min, was 1 h) is abandoned: a sweep
 *                       every `sweepIntervalMs` while serving (and one at start-up) removes its directory and its
 *                       in-memory state. A session a request is working on is never swept, and a live push
 *                       touches its session with every request, so only abandoned sessions reach the limit.
 *   bodyTimeoutMs       a request whose client makes no progress for this long (default 30 s) while we wait on
 *                       it (headers, body, or reading our answer) is answered 408 when possible and its
 *                       connection closed. Time the registry itself spends (hashing, a queued chunk) never counts.
 *   minBodyRate         bytes per second a request body must arrive at, averaged over each `bodyTimeoutMs` we
 *                       spend waiting for it (default 1 KiB/s), else 408 as above: a body dripped a byte every
 *                       10 s makes progress, so only a rate cuts it. Below any real link.
 *
 * A 429's Retry-After is the seconds until a slot frees by the idle sweep (the oldest session of the client, or
 * of all, when untouched), at least 1 and at most uploadIdleMs: never the hour it once asked.
 */
import { PipelineError } from "../errors";

export interface RegistryLimits {
  maxUploads: number;
  maxUploadsPerClient: number;
  uploadIdleMs: number;
  bodyTimeoutMs: number;
  minBodyRate: number;
}

export const DEFAULT_LIMITS: Readonly<RegistryLimits> = {
  maxUploads: 1000,
  maxUploadsPerClient: 64,
  uploadIdleMs: 5 * 60 * 1000,
  bodyTimeoutMs: 30 * 1000,
  minBodyRate: 1024,
};

/** How often idle upload sessions are looked for: a quarter of the idle limit, between 10 ms and 1 min. */
export function sweepIntervalMs(uploadIdleMs: number): number {
  return Math.min(60_000, Math.max(10, Math.floor(uploadIdleMs / 4)));
}

/** The limits with defaults filled in; E_USAGE naming the option when one is not a positive integer. */
export function resolveLimits(given: Partial<RegistryLimits> = {}): RegistryLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof RegistryLimits)[]) {
    const v = given[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new PipelineError("E_USAGE", `${key}: expected a positive integer, got ${JSON.stringify(v)}`, {
        exitCode: 2,
      });
    }
    out[key] = v;
  }
  return out;
}
