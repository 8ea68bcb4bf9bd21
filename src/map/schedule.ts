/**
 * The local schedule (src/runtime/map-schedule.ts: an Indexed Job's meaning on this machine) under a run's numbers,
 * its failures the CLI's own errors.
 */
import { PipelineError } from "../errors";
import { MapRunError } from "../runtime/map-error";
import { type IndexFailure, type ScheduleOptions, schedule } from "../runtime/map-schedule";
import type { MapRun } from "./target";

/** The runtime's errors (src/runtime/map-error.ts) as the CLI's, with the same code and message. */
export async function asCliError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (e instanceof MapRunError) throw new PipelineError(e.code, e.message, { cause: e });
    throw e;
  }
}

/** Every index of `run`'s plan under its numbers (parallelism, retries, the caller's signal), retries reported to its progress. */
export function scheduleRun(run: MapRun, attempt: ScheduleOptions["attempt"]): Promise<IndexFailure | undefined> {
  return asCliError(
    schedule({
      indexes: run.plan.chunks.length,
      parallelism: run.parallelism,
      retries: run.retries,
      signal: run.signal,
      onRetry: (index, attempt, message) => run.progress.retry(index, attempt, message),
      attempt,
    }),
  );
}
