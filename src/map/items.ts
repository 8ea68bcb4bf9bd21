/**
 * A map's items in and results out (docs/scale-out.md): `--items FILE.jsonl`, one JSON value per line, line i being
 * item i; results the same way, line i of `--out` (or stdout) being item i's result. A result that is bytes is written
 * as `{"bytes":"<base64>"}`. `runMap` (src/runtime/index.ts) speaks the envelope form instead, where every line is
 * `{"json":VALUE}` or `{"bytes":"<base64>"}`, so byte buffers go both ways.
 *
 * Items are read as a stream, one line at a time, each handed to the ItemWriter as it comes (src/runtime/map-items.ts:
 * small ones travel in the plan, the others are stored under their digests, several writes at once): what is held in
 * memory is what the writer holds (its bound is stated there), one line (at most --max-item-size) and the digests.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { encodeValue, MapValueError, type MapValue } from "../runtime/map-codec";
import { ItemWriter } from "../runtime/map-items";
import type { ObjectStore } from "../runtime/object-store";

export type LineFormat = "json" | "envelope";

/** The lines of `input`, each at most `maxBytes` (else E_MAP_ITEM naming the line); `what` names the input. */
export async function* boundedLines(input: Readable, maxBytes: number, what: string): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  let line = 1;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10)) {
      size += nl;
      if (size > maxBytes) throw tooLong(what, line, maxBytes);
      parts.push(buf.subarray(0, nl));
      yield Buffer.concat(parts).toString("utf8").replace(/\r$/, "");
      line++;
      parts = [];
      size = 0;
      buf = buf.subarray(nl + 1);
    }
    size += buf.length;
    if (size > maxBytes) throw tooLong(what, line, maxBytes);
    if (buf.length) parts.push(buf);
  }
  if (size > 0) yield Buffer.concat(parts).toString("utf8").replace(/\r$/, "");
}

function tooLong(what: string, line: number, max: number): PipelineError {
  return new PipelineError(
    "E_MAP_ITEM",
    `${what}:${line}: the line is longer than ${max} bytes (--max-item-size); pass large inputs by reference (a key or a URL)`,
  );
}

/** One line's value: plain JSON, or the envelope `{"json":…}` / `{"bytes":"<base64>"}`. */
export function parseItemLine(text: string, format: LineFormat, where: string): MapValue {
  if (text.trim() === "")
    throw new PipelineError("E_MAP_ITEM", `${where}: an empty line is not an item (line i is item i)`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PipelineError(
      "E_MAP_ITEM",
      `${where}: not JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  if (format === "json") return v as MapValue;
  const env = v as { json?: unknown; bytes?: unknown };
  if (typeof v === "object" && v !== null && typeof env.bytes === "string" && !("json" in env))
    return Buffer.from(env.bytes, "base64");
  if (typeof v === "object" && v !== null && "json" in env && !("bytes" in env)) return env.json as MapValue;
  throw new PipelineError("E_MAP_ITEM", `${where}: expected {"json": VALUE} or {"bytes": "<base64>"}`);
}

/** A result as a line of `format`. */
export function resultLine(value: MapValue, format: LineFormat): string {
  if (value instanceof Uint8Array) return JSON.stringify({ bytes: Buffer.from(value).toString("base64") });
  return format === "envelope" ? JSON.stringify({ json: value }) : JSON.stringify(value);
}

/** The items read and handed to an ItemWriter: their digests in order, the small ones kept for the plan. */
export async function storeItems(
  input: Readable,
  store: ObjectStore,
  o: { format: LineFormat; maxBytes: number; what: string; onItem?: (n: number) => void },
): Promise<ItemWriter> {
  const items = new ItemWriter(store);
  let line = 0;
  try {
    for await (const text of boundedLines(input, o.maxBytes, o.what)) {
      line++;
      const where = `${o.what}:${line}`;
      const value = parseItemLine(text, o.format, where);
      let bytes: Buffer;
      try {
        bytes = encodeValue(value);
      } catch (e) {
        if (!(e instanceof MapValueError)) throw e;
        throw new PipelineError("E_MAP_ITEM", `${where}: ${e.path.replace(/^\$/, "item")}: ${e.why}`);
      }
      await items.add(bytes);
      o.onItem?.(line);
    }
    await items.finish();
  } finally {
    // A bad line or a failed write: nothing keeps writing once this returns.
    await items.settle();
  }
  return items;
}
