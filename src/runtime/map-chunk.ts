/**
 * One index of a map (docs/scale-out.md): the items of one chunk of the plan, run through the task one after the
 * other, each result stored before the next item starts. What every target runs: the map worker inside an image (a
 * container, an Indexed Job's pod: map-worker.ts) and `pipeline map --on inprocess` (src/map/), so the three agree.
 *
 * Written once, never twice: an item whose result record exists is skipped (an index run again after its pod was
 * deleted redoes only what was not stored), a result's blob is stored before its record, and both are
 * content-addressed or keyed by what decides them, so two attempts racing write equal objects.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { decodeValue, encodeValue, MapValueError, type MapTask, resultKey, sha256Hex } from "./map-codec";
import type { TaskThread } from "./map-thread";
import { blobKey, type ObjectStore } from "./object-store";

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
}

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
  for (let at = range[0]; at < range[1]; at++) {
    const index = plan.indices[at];
    const itemHex = plan.items[at];
    const record = resultKey(plan.code, plan.task, itemHex);
    if (await store.has(record)) {
      o.event?.({ kind: "done", index, reused: true });
      continue;
    }
    o.event?.({ kind: "start", index });
    const failure = await runItem(o, index, itemHex, record);
    if (failure) {
      await store.put(failureKey(o.planHex, index), Buffer.from(JSON.stringify(failure)));
      return failure;
    }
    o.event?.({ kind: "done", index, reused: false });
  }
  return undefined;
}

async function runItem(
  o: ChunkOptions,
  index: number,
  itemHex: string,
  record: string,
): Promise<ItemFailure | undefined> {
  const { store, plan } = o;
  const fail = (kind: ItemFailure["kind"], message: string, retry: boolean, stack?: string): ItemFailure => ({
    index,
    item: `sha256:${itemHex}`,
    kind,
    message,
    retry,
    ...(stack ? { stack } : {}),
  });
  const bytes = await store.get(blobKey(itemHex), plan.maxValueBytes + 1);
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
  const resultHex = sha256Hex(encoded);
  await store.put(blobKey(resultHex), encoded);
  await store.put(
    record,
    Buffer.from(JSON.stringify({ v: 1, item: itemHex, result: resultHex, size: encoded.length })),
  );
  return undefined;
}
