/**
 * What one map call does around its target, whoever makes the call (docs/scale-out.md): which items already have a
 * stored result, the plan of the others in chunks (stored as a blob), and the results read back in item order. Shared
 * by `pipeline map` (src/map/run-map.ts) and by runMap inside a pod (map-cluster.ts), so both plan alike and a map run
 * from either reuses what the other stored.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { failureKey, type ItemFailure, type MapPlan } from "./map-chunk";
import {
  decodeValue,
  INLINE_RESULT_BYTES,
  type MapTask,
  type MapValue,
  parseResultRecord,
  RESULTS_DIR,
  resultKey,
  sha256Hex,
} from "./map-codec";
import { planBlobs } from "./map-plan-blobs";
import { forEachLimited } from "./in-flight";
import { blobKey, type ObjectStore, ObjectStoreError, STORE_CONCURRENCY } from "./object-store";

export interface PlanOptions {
  store: ObjectStore;
  /** What results are keyed by besides task and item: `image:sha256:…` or `file:sha256:…`. */
  code: string;
  task: MapTask;
  /** The items' digests (hex), in the caller's order (each stored already as a blob, or in `inline`). */
  digests: readonly string[];
  /** Small items by digest, carried in the plan instead of stored (map-items.ts). */
  inline?: ReadonlyMap<string, Buffer>;
  parallelism: number;
  /** Items per index; 0: chosen (about four indexes per parallel slot). */
  chunkSize: number;
  timeoutMs: number;
  maxValueBytes: number;
}

export interface PlannedMap {
  plan: MapPlan;
  /** The plan's digest (hex) once stored; "" when nothing is missing (no plan stored). */
  planHex: string;
  /** Distinct items, and how many of them had a stored result. */
  distinct: number;
  stored: number;
}

/** Leaves out the items whose result is stored, chunks the others and stores that plan. */
export async function planMap(o: PlanOptions): Promise<PlannedMap> {
  // Which items have no result yet: each distinct item once, in the caller's order.
  const firstIndex = new Map<string, number>();
  o.digests.forEach((d, i) => {
    if (!firstIndex.has(d)) firstIndex.set(d, i);
  });
  const distinct = [...firstIndex.keys()];
  const stored = new Set<string>();
  // One listing of the results instead of a HEAD per item when the store holds no more than there are items (a new
  // prefix: one request for a thousand items); key by key when it holds more, or the credential may not list.
  const listed = distinct.length > 1 ? await o.store.list(RESULTS_DIR, distinct.length) : undefined;
  if (listed) {
    const have = new Set(listed);
    for (const d of distinct) if (have.has(resultKey(o.code, o.task, d))) stored.add(d);
  } else
    await forEachLimited(distinct, STORE_CONCURRENCY, async (d) => {
      if (await o.store.has(resultKey(o.code, o.task, d))) stored.add(d);
    });
  const missing = distinct.filter((d) => !stored.has(d));
  const inline = new Map<string, Buffer>();
  for (const d of missing) {
    const bytes = o.inline?.get(d);
    if (bytes) inline.set(d, bytes);
  }
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
    inline,
    inlineResultBytes: INLINE_RESULT_BYTES,
  };
  for (let at = 0; at < missing.length; at += chunkSize)
    plan.chunks.push([at, Math.min(at + chunkSize, missing.length)]);
  let planHex = "";
  if (missing.length > 0) {
    // Each index's slice, STORE_CONCURRENCY at a time (4,000 indexes at 100,000 items), then the header naming them.
    const blobs = planBlobs(plan);
    await forEachLimited(blobs.slices, STORE_CONCURRENCY, (b) => o.store.put(blobKey(b.hex), b.bytes));
    await o.store.put(blobKey(blobs.header.hex), blobs.header.bytes);
    planHex = blobs.header.hex;
  }
  return { plan, planHex, distinct: distinct.length, stored: stored.size };
}

/**
 * The results of `digests`, in order, handed to `emit` a window at a time (so the order holds and memory stays
 * bounded). A result that is missing or does not match its digest is E_MAP_STORE naming the item.
 */
export async function readResults(
  o: { store: ObjectStore; code: string; task: MapTask; maxValueBytes: number },
  digests: readonly string[],
  emit: (value: MapValue, index: number) => void,
): Promise<void> {
  const window = STORE_CONCURRENCY * 4;
  for (let from = 0; from < digests.length; from += window) {
    const slice = digests.slice(from, from + window);
    const values: MapValue[] = new Array(slice.length);
    await forEachLimited(slice, STORE_CONCURRENCY, async (d, i) => {
      const key = resultKey(o.code, o.task, d);
      const record = await o.store.get(key, 64 * 1024);
      if (!record) throw lost(o.store, from + i, key);
      const r = parseResultRecord(record, `${o.store.where}${key}`);
      // A small result is in its record (map-codec.ts INLINE_RESULT_BYTES), checked against its digest as a blob is.
      const where = r.inline === undefined ? blobKey(r.result) : key;
      const bytes =
        r.inline === undefined ? await o.store.get(where, o.maxValueBytes) : Buffer.from(r.inline, "base64");
      if (!bytes || sha256Hex(bytes) !== r.result) throw lost(o.store, from + i, where);
      values[i] = decodeValue(bytes, `result of item ${from + i}`);
    });
    for (let i = 0; i < values.length; i++) emit(values[i], from + i);
  }
}

function lost(store: ObjectStore, index: number, key: string): ObjectStoreError {
  return new ObjectStoreError(
    "E_MAP_STORE",
    `${store.where}${key}: the result of item ${index} is missing or does not match its digest (removed from the store while the map ran?); run the map again`,
  );
}

/**
 * The failure record the worker stored for item `index` of the plan, if it could. The record comes from an image that
 * is not ours: one that is not what the worker writes is treated as absent.
 */
export async function readFailure(
  store: ObjectStore,
  planHex: string,
  index: number,
): Promise<ItemFailure | undefined> {
  const bytes = await store.get(failureKey(planHex, index), 1024 * 1024);
  if (!bytes) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof r !== "object" || r === null) return undefined;
  const { message, kind, retry, stack } = r as Record<string, unknown>;
  if (typeof message !== "string" || typeof kind !== "string") return undefined;
  const kinds: readonly ItemFailure["kind"][] = ["threw", "timeout", "crashed", "unserialisable", "bad-item", "load"];
  const known = kinds.find((k) => k === kind);
  if (!known) return undefined;
  return {
    index,
    item: "",
    kind: known,
    message,
    retry: retry === true,
    ...(typeof stack === "string" ? { stack } : {}),
  };
}

/** `item 3 failed after 2 attempts: …` — how a map's failure reads, from the CLI or from a pod. */
export function failureMessage(
  what: string,
  item: string,
  attempts: number,
  message: string,
  log: readonly string[] = [],
): string {
  const tries = attempts === 1 ? "1 attempt" : `${attempts} attempts`;
  const tail = log.length ? `\nlast lines of its log:\n${log.map((l) => `  ${l}`).join("\n")}` : "";
  return `${what}: ${item} failed after ${tries}: ${message}${tail}`;
}

/** The code of a map's failure: E_MAP_ITEM when the item or its result is at fault, else E_MAP_TASK. */
export function failureCode(f: ItemFailure | undefined): "E_MAP_ITEM" | "E_MAP_TASK" {
  return f && !f.retry && f.kind !== "timeout" && f.kind !== "threw" ? "E_MAP_ITEM" : "E_MAP_TASK";
}
