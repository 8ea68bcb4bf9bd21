/**
 * One map call, on any target (docs/scale-out.md): the items stored under their digests, the items whose result is
 * stored already left out (a map run again with the same code, task and items runs nothing), a plan of the rest in
 * chunks stored as a blob, the target running every chunk, then the results written in item order. What `pipeline
 * map` and `runMap` (through it) do.
 */
import type { Readable } from "node:stream";
import { forEachLimited } from "../concurrency";
import { PipelineError } from "../errors";
import type { MapPlan } from "../runtime/map-chunk";
import { decodeValue, type MapTask, parseResultRecord, resultKey, sha256Hex } from "../runtime/map-codec";
import { blobKey, type ObjectStore } from "../runtime/object-store";
import { type LineFormat, resultLine, storeItems } from "./items";
import type { MapCounter } from "./progress";
import type { MapTarget } from "./target";

/** Store requests in flight at once (HEADs and GETs of records and results). */
const STORE_CONCURRENCY = 32;

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
  const digests = await storeItems(o.items, o.store, {
    format: o.format,
    maxBytes: o.maxValueBytes,
    what: o.itemsWhat,
  });
  // Which items have no result yet: each distinct item once, in the caller's order.
  const firstIndex = new Map<string, number>();
  digests.forEach((d, i) => {
    if (!firstIndex.has(d)) firstIndex.set(d, i);
  });
  const distinct = [...firstIndex.keys()];
  const stored = new Set<string>();
  await forEachLimited(distinct, STORE_CONCURRENCY, async (d) => {
    if (await o.store.has(resultKey(o.code, o.task, d))) stored.add(d);
  });
  const missing = distinct.filter((d) => !stored.has(d));
  const progress = typeof o.progress === "function" ? o.progress(distinct.length) : o.progress;
  progress.alreadyDone(stored.size);
  const chunkSize = o.chunkSize > 0 ? o.chunkSize : Math.max(1, Math.ceil(missing.length / (o.parallelism * 4)));
  const plan: MapPlan = {
    v: 1,
    code: o.code,
    task: o.task,
    items: missing,
    indices: missing.map((d) => firstIndex.get(d)!),
    chunks: [],
    timeoutMs: o.timeoutMs,
    maxValueBytes: o.maxValueBytes,
  };
  for (let at = 0; at < missing.length; at += chunkSize)
    plan.chunks.push([at, Math.min(at + chunkSize, missing.length)]);
  if (missing.length > 0) {
    const bytes = Buffer.from(JSON.stringify(plan));
    const planHex = sha256Hex(bytes);
    await o.store.put(blobKey(planHex), bytes);
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
      const tries = failed.attempts === 1 ? "1 attempt" : `${failed.attempts} attempts`;
      const log = failed.log.length ? `\nlast lines of its log:\n${failed.log.map((l) => `  ${l}`).join("\n")}` : "";
      throw new PipelineError(
        f && !f.retry && f.kind !== "timeout" && f.kind !== "threw" ? "E_MAP_ITEM" : "E_MAP_TASK",
        `${what}: ${item} failed after ${tries}: ${f ? f.message : failed.message}${log}`,
      );
    }
  } else progress.finish(true);
  await writeResults(o, digests);
  return { items: digests.length, ran: missing.length, indexes: plan.chunks.length };
}

/** Result line i for item i, fetched a window at a time so the order holds and memory stays bounded. */
async function writeResults(o: RunMapOptions, digests: string[]): Promise<void> {
  const window = STORE_CONCURRENCY * 4;
  for (let from = 0; from < digests.length; from += window) {
    const slice = digests.slice(from, from + window);
    const lines: string[] = new Array(slice.length);
    await forEachLimited(slice, STORE_CONCURRENCY, async (d, i) => {
      const key = resultKey(o.code, o.task, d);
      const record = await o.store.get(key, 64 * 1024);
      if (!record) throw lost(o.store, from + i, key);
      const r = parseResultRecord(record, `${o.store.where}${key}`);
      const bytes = await o.store.get(blobKey(r.result), o.maxValueBytes);
      if (!bytes || sha256Hex(bytes) !== r.result) throw lost(o.store, from + i, blobKey(r.result));
      lines[i] = resultLine(decodeValue(bytes, `result of item ${from + i}`), o.format);
    });
    for (const line of lines) o.out(line);
  }
}

function lost(store: ObjectStore, index: number, key: string): PipelineError {
  return new PipelineError(
    "E_MAP_STORE",
    `${store.where}${key}: the result of item ${index} is missing or does not match its digest (removed from the store while the map ran?); run the map again`,
  );
}
