/**
 * The dev registry's resource bounds, so that abandoned or stalled clients cannot exhaust disk, memory or
 * file descriptors:
 *
 *   maxUploads      open upload sessions at most (default 1000). Beyond, POST answers 429 TOOMANYREQUESTS
 *                   (the distribution spec's code for a rate limit) with Retry-After: the seconds until the
 *                   oldest session would expire. We refuse new sessions rather than evict open ones, so a
 *                   slow but live push is never cut off by a burst of new ones.
 *   uploadIdleMs    a session no request touched for this long (default 1 h) is abandoned: a sweep every
 *                   `sweepIntervalMs` while serving (and one at start-up) removes its directory and its
 *                   in-memory state. A session a request is working on is never swept.
 *   bodyTimeoutMs   a request whose client makes no progress for this long (default 30 s) while we wait on
 *                   it (headers, body, or reading our answer) is answered 408 when possible and its
 *                   connection closed. Time the registry itself spends (hashing, a queued chunk) never counts.
 */
import { PipelineError } from "../errors";

export interface RegistryLimits {
  maxUploads: number;
  uploadIdleMs: number;
  bodyTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<RegistryLimits> = {
  maxUploads: 1000,
  uploadIdleMs: 60 * 60 * 1000,
  bodyTimeoutMs: 30 * 1000,
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
      throw new PipelineError("E_USAGE", `${key}: expected a positive integer, got ${JSON.stringify(v)}`, { exitCode: 2 });
    }
    out[key] = v;
  }
  return out;
}
