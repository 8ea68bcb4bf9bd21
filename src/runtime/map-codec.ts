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
import { SHA256_HEX_RE } from "./sha256-hex";

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

/**
 * The largest result its record carries (base64, no blob stored): a small result costs one write in the pod and one
 * read for the caller instead of two each. Only under a plan that says its caller reads such records (map-plan-blobs.ts
 * version 4), so that a caller from before never meets one.
 */
export const INLINE_RESULT_BYTES: number = 4 * 1024;

/** The record stored under resultKey: the result's blob, or the result itself when it is small (`inline`, base64). */
export interface ResultRecord {
  v: 1;
  item: string;
  result: string;
  size: number;
  inline?: string;
}

/** Base64 text as Buffer.toString("base64") writes it (a record's or a plan slice's carried bytes). */
export const BASE64: RegExp = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseResultRecord(bytes: Buffer, key: string): ResultRecord {
  let r: unknown;
  try {
    r = JSON.parse(bytes.toString("utf8"));
  } catch {
    r = undefined;
  }
  if (typeof r === "object" && r !== null && "v" in r && r.v === 1 && "item" in r && "result" in r && "size" in r) {
    const { item, result, size } = r;
    const inline = "inline" in r ? r.inline : undefined;
    if (
      typeof item === "string" &&
      typeof result === "string" &&
      SHA256_HEX_RE.test(result) &&
      typeof size === "number" &&
      Number.isSafeInteger(size) &&
      (inline === undefined || (typeof inline === "string" && BASE64.test(inline)))
    )
      return { v: 1, item, result, size, ...(inline === undefined ? {} : { inline }) };
  }
  throw new MapValueError(key, "not a result record of this version");
}

/**
 * The record of `itemHex`'s result `encoded` (its digest `resultHex`), carrying it when `inlineBytes` allows (a record
 * without `inline` needs the result's blob stored first).
 */
export function resultRecord(itemHex: string, resultHex: string, encoded: Buffer, inlineBytes: number): ResultRecord {
  const record: ResultRecord = { v: 1, item: itemHex, result: resultHex, size: encoded.length };
  if (encoded.length <= inlineBytes) record.inline = encoded.toString("base64");
  return record;
}
