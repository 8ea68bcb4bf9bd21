/**
 * One map call, on any target (docs/scale-out.md): the items stored under their digests, the items whose result is
 * stored already left out (a map run again with the same code, task and items runs nothing), a plan of the rest in
 * chunks stored as a blob, the target running every chunk, then the results written in item order. What `pipeline
 * map` and `runMap` (through it) do.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import type { MapTask } from "../runtime/map-codec";
import { failureCode, failureMessage, planMap, readResults } from "../runtime/map-plan";
import type { ObjectStore } from "../runtime/object-store";
import { type LineFormat, resultLine, storeItems } from "./items";
import type { MapCounter } from "./progress";
import type { MapTarget } from "./target";

export interface RunMapOptions {
  store: ObjectStore;
  target: MapTarget;
  task: MapTask;
  /** What results are keyed by besides task and item: `image:sha256:…` or `file:sha256:…`. */
  code: string;
  items: Readable;
  /** Names the items in messages (`items.jsonl`). */
  itemsWhat: string;
  format: LineFormat;
  /** Receives result line i for item i, in order. */
  out: (line: string) => void;
  parallelism: number;
  retries: number;
  timeoutMs: number;
  /** Items per index; 0: chosen (about four indexes per parallel slot). */
  chunkSize: number;
  maxValueBytes: number;
  progress: MapCounter | ((total: number) => MapCounter);
  signal: AbortSignal;
}

export interface MapSummary {
  items: number;
  /** Items that ran (the others' results were in the store). */
  ran: number;
  indexes: number;
}

export async function runMap(o: RunMapOptions): Promise<MapSummary> {
  const what = `task ${o.task.module}#${o.task.export}`;
  await o.store.check();
  const { digests, inline } = await storeItems(o.items, o.store, {
    format: o.format,
    maxBytes: o.maxValueBytes,
    what: o.itemsWhat,
  });
  const { plan, planHex, distinct, stored } = await planMap({ ...o, digests, inline });
  const progress = typeof o.progress === "function" ? o.progress(distinct) : o.progress;
  progress.alreadyDone(stored);
  if (planHex) {
    const run = {
      store: o.store,
      plan,
      planHex,
      what,
      parallelism: o.parallelism,
      retries: o.retries,
      progress,
      signal: o.signal,
    };
    await o.target.check(run);
    const failed = await o.target.run(run);
    progress.finish(!failed);
    if (failed) {
      const f = failed.failure;
      // runMap's items are an array: its index says it all; a file's get their line too.
      const item = !f
        ? "an index"
        : o.format === "envelope"
          ? `item ${f.index}`
          : `item ${f.index} (line ${f.index + 1} of ${o.itemsWhat})`;
      throw new PipelineError(
        failureCode(f),
        failureMessage(what, item, failed.attempts, f ? f.message : failed.message, failed.log),
      );
    }
  } else progress.finish(true);
  await readResults(o, digests, (value) => o.out(resultLine(value, o.format)));
  return { items: digests.length, ran: plan.items.length, indexes: plan.chunks.length };
}
