/**
 * How a map's items and results become bytes in the store (docs/scale-out.md), the one codec of `runMap`, `pipeline
 * map` and the map worker inside images: a value is a JSON value (null, booleans, finite numbers, strings, arrays and
 * plain objects of them) or a byte buffer, stored as one tag byte and its payload (`j` + the JSON text, `b` + the
 * bytes), under the sha256 of those bytes. A result is found again through a record keyed by what decides it: the code
 * (the image's digest), the task (module and export) and the item's digest.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { createHash } from "node:crypto";

/** What a map item or result may be. */
export type MapValue = JsonValue | Uint8Array;
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A value that cannot be stored: `path` says where in it (`$`, `$.a[2]`), `why` what it is. */
export class MapValueError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
    this.name = "MapValueError";
  }
}

const TAG_JSON = 0x6a; // "j"
const TAG_BYTES = 0x62; // "b"

/**
 * The stored form of `value`. Throws MapValueError naming the first part that is not a JSON value (a function, a
 * BigInt, a symbol, undefined, NaN or ±Infinity, a cycle, a class instance such as a Date or a Map): JSON.stringify
 * would drop or change those silently, and the task would get back something else than it returned.
 */
export function encodeValue(value: unknown): Buffer {
  if (value instanceof Uint8Array) return Buffer.concat([Buffer.of(TAG_BYTES), value]);
  checkJson(value, "$", new Set());
  return Buffer.concat([Buffer.of(TAG_JSON), Buffer.from(JSON.stringify(value), "utf8")]);
}

/** The value of a stored form; `what` names it in an error (`item sha256:…`). */
export function decodeValue(bytes: Buffer, what: string): MapValue {
  if (bytes.length > 0 && bytes[0] === TAG_BYTES) return bytes.subarray(1);
  if (bytes.length > 0 && bytes[0] === TAG_JSON) {
    try {
      return JSON.parse(bytes.subarray(1).toString("utf8")) as JsonValue;
    } catch (e) {
      throw new MapValueError(what, `stored JSON does not parse (${(e as Error).message})`);
    }
  }
  throw new MapValueError(what, `not a stored map value (first byte ${bytes.length ? bytes[0] : "none"})`);
}

function checkJson(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(v)) throw new MapValueError(path, `${v} is not a JSON number`);
      return;
    case "object":
      break;
    default:
      throw new MapValueError(path, `a ${typeof v} is not a JSON value`);
  }
  if (v === null) return;
  if (seen.has(v)) throw new MapValueError(path, "a cycle (the value contains itself)");
  if (v instanceof Uint8Array)
    throw new MapValueError(path, "a byte buffer inside a JSON value (only a whole item or result may be bytes)");
  seen.add(v);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) checkJson(v[i], `${path}[${i}]`, seen);
  else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null)
      throw new MapValueError(path, `a ${proto?.constructor?.name ?? "class"} instance is not a plain JSON object`);
    for (const [k, x] of Object.entries(v)) checkJson(x, `${path}.${k}`, seen);
  }
  seen.delete(v);
}

/** The sha256 of `bytes`, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A task: the module (its path from the app root, `/` separated) and the export that is called. */
export interface MapTask {
  module: string;
  export: string;
}

/** Where the results' records are (object-store.ts `list` reads it). */
export const RESULTS_DIR: string = "results/";

/**
 * The key of the record that says which blob is `item`'s result, for `code` (the image digest the task runs in, or
 * `file:sha256:…` for a module run without an image) and `task`: a map run again with the same three finds it.
 */
export function resultKey(code: string, task: MapTask, itemHex: string): string {
  return `${RESULTS_DIR}${sha256Hex(["rules_pipeline map result v1", code, task.module, task.export, itemHex].join("\0"))}`;
}

/** The record stored under resultKey: the result's blob. */
export interface ResultRecord {
  v: 1;
  item: string;
  result: string;
  size: number;
}

export function parseResultRecord(bytes: Buffer, key: string): ResultRecord {
  let r: unknown;
  try {
    r = JSON.parse(bytes.toString("utf8"));
  } catch {
    r = undefined;
  }
  const ok =
    typeof r === "object" &&
    r !== null &&
    (r as ResultRecord).v === 1 &&
    /^[0-9a-f]{64}$/.test(String((r as ResultRecord).result)) &&
    Number.isSafeInteger((r as ResultRecord).size);
  if (!ok) throw new MapValueError(key, "not a result record of this version");
  return r as ResultRecord;
}
