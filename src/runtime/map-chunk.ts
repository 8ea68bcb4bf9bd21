/**
 * One index of a map (docs/scale-out.md): the items of one chunk of the plan, run through the task one after the
 * other, while the results before are written (WRITES_IN_FLIGHT at once: the task does not wait for the store). What
 * every target runs: the map worker inside an image (a container, an Indexed Job's pod: map-worker.ts) and `pipeline
 * map --on inprocess` (src/map/), so the three agree.
 *
 * Written once, never twice: an item whose result record exists is skipped (an index run again after its pod was
 * deleted redoes only what was not stored; the chunk's records are asked about at once, before its first item), a
 * result's blob is stored before its record, and both are content-addressed or keyed by what decides them, so two
 * attempts racing write equal objects. An item is `done` once its record is stored; when an item fails, the writes of
 * the ones before it end first (they are stored, or the write's error is the chunk's).
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { decodeValue, encodeValue, MapValueError, type MapTask, resultKey, resultRecord, sha256Hex } from "./map-codec";
import type { TaskThread } from "./map-thread";
import { forEachLimited, InFlight } from "./in-flight";
import { blobKey, type ObjectStore, putBlob, STORE_BYTES_IN_FLIGHT, STORE_CONCURRENCY } from "./object-store";

/**
 * The work of one map call; index i runs `items[chunks[i][0] .. chunks[i][1])`. Stored as a header and one slice per
 * index (map-plan-blobs.ts), a worker's plan holds its own index's items alone, as chunk 0.
 */
export interface MapPlan {
  v: 1;
  /** What the results are keyed by besides the task and the item: `image:sha256:…` or `file:sha256:…`. */
  code: string;
  task: MapTask;
  /** The items' digests (hex) of this run: the ones without a stored result, in the caller's order. */
  items: string[];
  /** Each item's index in the caller's list (for messages). */
  indices: number[];
  chunks: [number, number][];
  /** Per item; 0: none. */
  timeoutMs: number;
  /** The largest item or result read or written, in bytes. */
  maxValueBytes: number;
  /** Small items by digest, carried in the plan (map-items.ts); the others are read from the store. */
  inline?: ReadonlyMap<string, Buffer>;
  /** The largest result a record carries (map-codec.ts INLINE_RESULT_BYTES; 0 or absent: every result is a blob). */
  inlineResultBytes?: number;
}

/** Results whose writes are in flight while the task goes on. */
const WRITES_IN_FLIGHT = 8;

/** The map worker's exit code for a failure no other attempt can change (the podFailurePolicy's FailIndex). */
export const EXIT_NOT_RETRIABLE: number = 42;
/** What starts the map worker's event lines on stdout (`pipeline-map: {"kind":"done","index":3,…}`). */
export const EVENT_PREFIX: string = "pipeline-map: ";

/** The key of a failure's record: what the caller reads when an index failed (the pod's log may be gone). */
export function failureKey(planHex: string, index: number): string {
  return `failures/${planHex}/${index}`;
}

/** Why an item failed; `retry` says whether running the index again could change that. */
export interface ItemFailure {
  index: number;
  item: string;
  kind: "threw" | "timeout" | "crashed" | "unserialisable" | "bad-item" | "load";
  message: string;
  stack?: string;
  retry: boolean;
}

export type ChunkEvent = { kind: "start"; index: number } | { kind: "done"; index: number; reused: boolean };

export interface ChunkOptions {
  store: ObjectStore;
  plan: MapPlan;
  planHex: string;
  chunk: number;
  /** The task, loaded (map-thread.ts); replaced after a timeout or crash by the thread itself. */
  thread: TaskThread;
  event?: (e: ChunkEvent) => void;
}

/**
 * Runs chunk `chunk` of the plan. Resolves to undefined when every item's result is stored, else to the first
 * failure (its record stored under failureKey; the chunk's later items are left for the next attempt).
 */
export async function runChunk(o: ChunkOptions): Promise<ItemFailure | undefined> {
  const { store, plan } = o;
  const range = plan.chunks[o.chunk];
  if (!range) throw new MapValueError(`chunk ${o.chunk}`, `the plan has ${plan.chunks.length} chunks`);
  const ats = Array.from({ length: range[1] - range[0] }, (_, k) => range[0] + k);
  const recordOf = (at: number) => resultKey(plan.code, plan.task, plan.items[at]);
  const stored = new Set<number>();
  await forEachLimited(ats, STORE_CONCURRENCY, async (at) => {
    if (await store.has(recordOf(at))) stored.add(at);
  });
  const writes = new InFlight(WRITES_IN_FLIGHT, STORE_BYTES_IN_FLIGHT);
  try {
    for (const at of ats) {
      const index = plan.indices[at];
      if (stored.has(at)) {
        o.event?.({ kind: "done", index, reused: true });
        continue;
      }
      o.event?.({ kind: "start", index });
      const out = await runItem(o, index, plan.items[at]);
      if ("failure" in out) {
        await writes.drain();
        await store.put(failureKey(o.planHex, index), Buffer.from(JSON.stringify(out.failure)));
        return out.failure;
      }
      await writes.add(out.encoded.length, async () => {
        const record = resultRecord(plan.items[at], out.resultHex, out.encoded, plan.inlineResultBytes ?? 0);
        if (record.inline === undefined) await putBlob(store, out.resultHex, out.encoded);
        await store.put(recordOf(at), Buffer.from(JSON.stringify(record)));
        o.event?.({ kind: "done", index, reused: false });
      });
    }
    await writes.drain();
    return undefined;
  } finally {
    // Leaving on a store's error: nothing keeps writing once this returns.
    await writes.settle();
  }
}

/** One item through the task: its encoded result, or why not. */
async function runItem(
  o: ChunkOptions,
  index: number,
  itemHex: string,
): Promise<{ failure: ItemFailure } | { resultHex: string; encoded: Buffer }> {
  const { store, plan } = o;
  const fail = (kind: ItemFailure["kind"], message: string, retry: boolean, stack?: string) => ({
    failure: { index, item: `sha256:${itemHex}`, kind, message, retry, ...(stack ? { stack } : {}) },
  });
  const bytes = plan.inline?.get(itemHex) ?? (await store.get(blobKey(itemHex), plan.maxValueBytes + 1));
  if (!bytes) return fail("bad-item", `item ${index} (sha256:${itemHex}) is not in the store ${store.where}`, false);
  if (sha256Hex(bytes) !== itemHex)
    return fail("bad-item", `item ${index}: the store's bytes do not have its digest sha256:${itemHex}`, true);
  let item: ReturnType<typeof decodeValue>;
  try {
    item = decodeValue(bytes, `item ${index}`);
  } catch (e) {
    return fail("bad-item", (e as Error).message, false);
  }
  const out = await o.thread.call(item, plan.timeoutMs);
  switch (out.kind) {
    case "threw":
      return fail("threw", out.message, true, out.stack);
    case "timeout":
      return fail("timeout", `timed out after ${out.ms / 1000} s (the task was stopped)`, true);
    case "crashed":
      return fail("crashed", out.message, true);
    case "unserialisable":
      return fail("unserialisable", `the result cannot be stored: ${out.message}`, false);
  }
  let encoded: Buffer;
  try {
    encoded = encodeValue(out.result);
  } catch (e) {
    const path = e instanceof MapValueError ? e.path.replace(/^\$/, "result") : "result";
    const why = e instanceof MapValueError ? e.why : (e as Error).message;
    return fail("unserialisable", `the result cannot be stored: ${path}: ${why}`, false);
  }
  if (encoded.length > plan.maxValueBytes)
    return fail(
      "unserialisable",
      `the result is ${encoded.length} bytes, above the limit of ${plan.maxValueBytes}`,
      false,
    );
  return { resultHex: sha256Hex(encoded), encoded };
}
