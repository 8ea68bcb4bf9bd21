/**
 * How a map's plan is stored for its workers (docs/scale-out.md): a header blob (what every index shares: the code,
 * the task, the limits, and one digest per index) and one blob per index holding that chunk's items, each under its
 * sha256. A worker reads the header and its own slice, never the other indexes' items: at 100,000 items in 4,000
 * indexes, a pod reads ~270 kB of header and its 25 items instead of the whole ~7.5 MB plan (4,000 pods: ~1 GB of
 * GETs instead of 30 GB). A slice carries its small items too (map-items.ts: base64 by digest), so their pod reads
 * no blob per item. Both blobs, and every item, are checked against their digests before use.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import type { MapPlan } from "./map-chunk";
import { BASE64, MapValueError, sha256Hex } from "./map-codec";
import { blobKey, type ObjectStore } from "./object-store";
import { SHA256_HEX_RE } from "./sha256-hex";

/** The bound on a plan's header and on one index's slice (a header of 100,000 indexes takes ~7 MB). */
export const MAX_PLAN_BYTES: number = 256 * 1024 * 1024;

/**
 * The header as stored: `slices[i]` is the digest of index i's items (`PlanSlice`). Version 3 slices may carry items
 * (a worker of version 2 would look for them in the store and not find them, so it is told the versions differ);
 * version 4 adds `inlineResultBytes`, the largest result the worker may carry in its record (the caller reads such
 * records). A version 2 or 3 plan (a caller from before) is read as one that carries no item, or no result, that it
 * does not say.
 */
interface PlanHeader {
  v: 2 | 3 | 4;
  code: string;
  task: { module: string; export: string };
  timeoutMs: number;
  maxValueBytes: number;
  inlineResultBytes?: number;
  slices: string[];
}

interface PlanSlice {
  items: string[];
  indices: number[];
  /** Items carried here, base64 by digest; the others are blobs in the store. */
  inline?: Record<string, string>;
}

/** A blob as stored: its digest (hex) and bytes. */
export interface PlanBlob {
  hex: string;
  bytes: Buffer;
}

/**
 * The blobs `plan` is stored as: one slice per index, and the header naming them (its digest is the plan's name). The
 * caller stores the slices before the header, so that a stored header never names a missing slice.
 */
export function planBlobs(plan: MapPlan): { slices: PlanBlob[]; header: PlanBlob } {
  const blob = (value: unknown): PlanBlob => {
    const bytes = Buffer.from(JSON.stringify(value));
    return { hex: sha256Hex(bytes), bytes };
  };
  const slices = plan.chunks.map(([from, to]) => {
    const items = plan.items.slice(from, to);
    const carried = items.flatMap((d) => {
      const bytes = plan.inline?.get(d);
      return bytes ? [[d, bytes.toString("base64")] as const] : [];
    });
    const slice: PlanSlice = { items, indices: plan.indices.slice(from, to) };
    if (carried.length) slice.inline = Object.fromEntries(carried);
    return blob(slice);
  });
  const { code, task, timeoutMs, maxValueBytes } = plan;
  const header: PlanHeader = {
    v: 4,
    code,
    task,
    timeoutMs,
    maxValueBytes,
    inlineResultBytes: plan.inlineResultBytes ?? 0,
    slices: slices.map((s) => s.hex),
  };
  return { slices, header: blob(header) };
}

/**
 * The plan of index `chunk` alone, as runChunk takes it (its items as the plan's one chunk, numbered 0), read from the
 * plan `planHex`. A blob that is missing, does not have its digest or is not what planBlobs makes is an error naming
 * it; an index past the plan's is one too.
 */
export async function readPlanChunk(store: ObjectStore, planHex: string, chunk: number): Promise<MapPlan> {
  const header = parseHeader(await readBlob(store, planHex, `the plan sha256:${planHex}`), `plan sha256:${planHex}`);
  const sliceHex = header.slices[chunk];
  if (sliceHex === undefined)
    throw new MapValueError(`plan sha256:${planHex}`, `it has ${header.slices.length} indexes, not index ${chunk}`);
  const what = `index ${chunk} of the plan sha256:${planHex}`;
  const slice = parseSlice(await readBlob(store, sliceHex, `${what} (sha256:${sliceHex})`), what);
  const { code, task, timeoutMs, maxValueBytes, inlineResultBytes = 0 } = header;
  const inline = new Map(
    Object.entries(slice.inline ?? {}).map(([d, b64]) => [d, Buffer.from(b64, "base64")] as const),
  );
  const { items, indices } = slice;
  const chunks: [number, number][] = [[0, items.length]];
  return { v: 1, code, task, timeoutMs, maxValueBytes, inlineResultBytes, items, indices, inline, chunks };
}

async function readBlob(store: ObjectStore, hex: string, what: string): Promise<Buffer> {
  const bytes = await store.get(blobKey(hex), MAX_PLAN_BYTES);
  if (!bytes) throw new MapValueError(what, `not in the store ${store.where}`);
  if (sha256Hex(bytes) !== hex) throw new MapValueError(what, "the store's bytes do not have its digest");
  return bytes;
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let p: unknown;
  try {
    p = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new MapValueError(what, `not JSON (${(e as Error).message})`);
  }
  if (typeof p !== "object" || p === null || Array.isArray(p)) throw new MapValueError(what, "not a JSON object");
  return p as Record<string, unknown>;
}

const isStringArray = (v: unknown, each: (s: string) => boolean): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === "string" && each(s));

function parseHeader(bytes: Buffer, what: string): PlanHeader {
  const h = parseJson(bytes, what);
  const task = h.task;
  if (
    (h.v === 2 || h.v === 3 || h.v === 4) &&
    (h.v === 4 ? Number.isSafeInteger(h.inlineResultBytes) && Number(h.inlineResultBytes) >= 0 : true) &&
    typeof h.code === "string" &&
    typeof task === "object" &&
    task !== null &&
    "module" in task &&
    typeof task.module === "string" &&
    "export" in task &&
    typeof task.export === "string" &&
    Number.isSafeInteger(h.timeoutMs) &&
    Number.isSafeInteger(h.maxValueBytes) &&
    isStringArray(h.slices, (s) => SHA256_HEX_RE.test(s))
  )
    return {
      v: h.v,
      code: h.code,
      task: { module: task.module, export: task.export },
      timeoutMs: Number(h.timeoutMs),
      maxValueBytes: Number(h.maxValueBytes),
      inlineResultBytes: h.v === 4 ? Number(h.inlineResultBytes) : 0,
      slices: h.slices,
    };
  throw new MapValueError(what, "not a map plan of this version (the image's runtime and the caller's differ?)");
}

/** A slice's carried items: base64 strings under digests of its own items (each item's digest is checked at use). */
function isInline(v: unknown, items: readonly string[]): v is Record<string, string> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const own = new Set(items);
  return Object.entries(v).every(([d, b]) => own.has(d) && typeof b === "string" && BASE64.test(b));
}

function parseSlice(bytes: Buffer, what: string): PlanSlice {
  const s = parseJson(bytes, what);
  const { items, indices, inline } = s;
  if (
    isStringArray(items, (h) => SHA256_HEX_RE.test(h)) &&
    Array.isArray(indices) &&
    indices.length === items.length &&
    indices.every((i) => Number.isSafeInteger(i) && i >= 0) &&
    (inline === undefined || isInline(inline, items))
  )
    return { items, indices: indices.map(Number), ...(inline === undefined ? {} : { inline }) };
  throw new MapValueError(what, "not a slice of a map plan");
}
