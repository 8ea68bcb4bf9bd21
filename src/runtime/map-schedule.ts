/**
 * The schedule of a map's indexes on one machine (`inprocess`, `container`, runMap's threads inside a pod), with an Indexed Job's meaning, so the
 * three targets fail and retry alike (docs/scale-out.md): at most `parallelism` indexes at a time, the lowest first;
 * an index whose attempt fails in a way another attempt may not repeat is run again up to `retries` times
 * (`backoffLimitPerIndex`); one that never will (`retry: false`, the podFailurePolicy's FailIndex) is not; the first
 * index that fails for good ends the map (`maxFailedIndexes: 0`): no new attempt starts, the running ones are stopped
 * (`signal`) and the failure is what the call reports. An abort of `signal` (Ctrl-C) stops everything the same way.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { MapRunError } from "./map-error";

/** How one attempt at an index ended. */
export type AttemptOutcome = { ok: true } | { ok: false; retry: boolean; message: string };

export interface ScheduleOptions {
  indexes: number;
  parallelism: number;
  retries: number;
  /** Runs one attempt at `index` (attempt 0 first); must end soon after `signal` aborts. */
  attempt(index: number, attempt: number, signal: AbortSignal): Promise<AttemptOutcome>;
  /** Called when an index is run again: the failure it is retried after. */
  onRetry?(index: number, attempt: number, message: string): void;
  signal?: AbortSignal;
}

/** An index that failed for good: the map's failure. */
export interface IndexFailure {
  index: number;
  attempts: number;
  message: string;
}

/** Runs every index; resolves to undefined when all succeeded, else to the first index that failed for good. */
export async function schedule(o: ScheduleOptions): Promise<IndexFailure | undefined> {
  if (!(Number.isInteger(o.parallelism) && o.parallelism >= 1))
    throw new MapRunError("E_BAD_OPTION", `parallelism: expected a whole number ≥ 1, got ${o.parallelism}`);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const queue: { index: number; attempt: number }[] = [];
  for (let i = 0; i < o.indexes; i++) queue.push({ index: i, attempt: 0 });
  let failure: IndexFailure | undefined;
  const lane = async (): Promise<void> => {
    for (;;) {
      if (stop.signal.aborted) return;
      const next = queue.shift();
      if (!next) return;
      let outcome: AttemptOutcome;
      try {
        outcome = await o.attempt(next.index, next.attempt, stop.signal);
      } catch (e) {
        stop.abort();
        throw e;
      }
      if (outcome.ok || stop.signal.aborted) continue;
      if (outcome.retry && next.attempt < o.retries) {
        o.onRetry?.(next.index, next.attempt + 1, outcome.message);
        // Retried before the indexes not started yet, as the Job controller recreates a failed index's pod.
        queue.unshift({ index: next.index, attempt: next.attempt + 1 });
        continue;
      }
      failure ??= { index: next.index, attempts: next.attempt + 1, message: outcome.message };
      stop.abort();
    }
  };
  try {
    const lanes = Array.from({ length: Math.min(o.parallelism, Math.max(o.indexes, 1)) }, lane);
    const settled = await Promise.allSettled(lanes);
    const thrown = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (thrown) throw thrown.reason;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  if (o.signal?.aborted && !failure) throw new MapRunError("E_ABORTED", "interrupted: the map was stopped");
  return failure;
}
