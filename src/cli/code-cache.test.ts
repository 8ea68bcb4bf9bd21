import { describe, expect, it } from "vitest";
import { CODE_CACHE_ENTRY } from "../cache/layout";
import { sha256 } from "../oci/digest";
import { codeCacheFileName, decodeCodeCache, encodeCodeCache } from "./code-cache";

const bundle = sha256("the bundle").slice(7);
const other = sha256("another bundle").slice(7);
const data = Buffer.from("V8 data, opaque to us ".repeat(100));

describe("code cache files", () => {
  it("give back V8's data for the bundle they were written for", () => {
    const r = decodeCodeCache(encodeCodeCache(bundle, data), bundle);
    expect("data" in r && r.data.equals(data)).toBe(true);
  });

  it("are not used for another bundle, damaged, truncated, or when they are something else", () => {
    const file = encodeCodeCache(bundle, data);
    expect(decodeCodeCache(file, other)).toEqual({ problem: "made for another bundle" });
    const damaged = Buffer.from(file);
    damaged[damaged.length - 10] ^= 1;
    expect(decodeCodeCache(damaged, bundle)).toEqual({ problem: "damaged (checksum mismatch)" });
    expect(decodeCodeCache(file.subarray(0, file.length - 1), bundle)).toEqual({
      problem: "damaged (checksum mismatch)",
    });
    expect(decodeCodeCache(file.subarray(0, 100), bundle)).toEqual({ problem: "not a code cache file" });
    expect(decodeCodeCache(Buffer.from("x".repeat(500)), bundle)).toEqual({ problem: "not a code cache file" });
  });

  it("are named by the bundle's digest, the Node version and the architecture, as `cache du`/`prune` recognise them", () => {
    const name = codeCacheFileName(bundle, "20.20.2", "x64");
    expect(name).toBe(`pipeline-${bundle.slice(0, 16)}-node20.20.2-x64.v8`);
    expect(CODE_CACHE_ENTRY.test(name)).toBe(true);
    expect(CODE_CACHE_ENTRY.test(codeCacheFileName(bundle))).toBe(true);
    expect(CODE_CACHE_ENTRY.test(`.${name}.tmp-1-2-0123abcd`)).toBe(false);
  });
});
