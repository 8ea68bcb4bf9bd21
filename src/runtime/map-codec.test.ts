/** The map codec (map-codec.ts): JSON values and bytes round-trip; anything else is refused naming where it is. */
import { describe, expect, it } from "vitest";
import { decodeValue, encodeValue, MapValueError, resultKey } from "./map-codec";

describe("map codec", () => {
  it.each([null, true, 0, -1.5, "", "x", [], {}, { a: [1, { b: "c" }] }])("round-trips %j", (v) => {
    expect(decodeValue(encodeValue(v), "v")).toEqual(v);
  });

  it("round-trips bytes as bytes, and a JSON string is not bytes", () => {
    const b = decodeValue(encodeValue(Buffer.from([0, 1, 255])), "v");
    expect(Buffer.isBuffer(b) || b instanceof Uint8Array).toBe(true);
    expect([...(b as Uint8Array)]).toEqual([0, 1, 255]);
    expect(encodeValue("x").equals(encodeValue(Buffer.from("x")))).toBe(false);
  });

  it.each([
    [() => 1, "$", "a function"],
    [{ a: 1n }, "$.a", "a bigint"],
    [{ a: [undefined] }, "$.a[0]", "a undefined"],
    [{ n: Number.NaN }, "$.n", "NaN is not a JSON number"],
    [{ d: new Date(0) }, "$.d", "a Date instance"],
    [{ m: new Map() }, "$.m", "a Map instance"],
    [{ b: Buffer.from("x") }, "$.b", "a byte buffer inside a JSON value"],
  ])("refuses %s at %s", (v, path, why) => {
    try {
      encodeValue(v);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MapValueError);
      expect((e as MapValueError).path).toBe(path);
      expect((e as MapValueError).why).toContain(why);
    }
  });

  it("refuses a cycle, but not a value seen twice", () => {
    const shared = { x: 1 };
    expect(decodeValue(encodeValue({ a: shared, b: shared }), "v")).toEqual({ a: { x: 1 }, b: { x: 1 } });
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => encodeValue(o)).toThrow(/\$\.self: a cycle/);
  });

  it("keys a result by code, task and item: any of them changed, another key", () => {
    const t = { module: "a.js", export: "f" };
    const k = resultKey("image:sha256:1", t, "ab");
    expect(resultKey("image:sha256:1", t, "ab")).toBe(k);
    expect(resultKey("image:sha256:2", t, "ab")).not.toBe(k);
    expect(resultKey("image:sha256:1", { ...t, export: "g" }, "ab")).not.toBe(k);
    expect(resultKey("image:sha256:1", { ...t, module: "b.js" }, "ab")).not.toBe(k);
    expect(resultKey("image:sha256:1", t, "ac")).not.toBe(k);
  });
});
