import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cacheRoot } from "./layout";

describe("cacheRoot", () => {
  it("is absolute whatever it is given: a relative flag or $PIPELINE_CACHE_DIR is taken from the working directory", () => {
    expect(cacheRoot({}, "rel/c")).toBe(join(process.cwd(), "rel/c"));
    expect(cacheRoot({ PIPELINE_CACHE_DIR: "./c2" })).toBe(join(process.cwd(), "c2"));
    expect(cacheRoot({ PIPELINE_CACHE_DIR: "/abs/c" }, "/flag/wins")).toBe("/flag/wins");
    expect(cacheRoot({ PIPELINE_CACHE_DIR: "/abs/c/" })).toBe("/abs/c");
  });

  it("uses $XDG_CACHE_HOME only when absolute (the XDG spec ignores a relative one), else ~/.cache", () => {
    expect(cacheRoot({ XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" })).toBe("/x/cache/rules_pipeline");
    expect(cacheRoot({ XDG_CACHE_HOME: "relative", HOME: "/home/u" })).toBe("/home/u/.cache/rules_pipeline");
    expect(cacheRoot({ HOME: "/home/u" })).toBe("/home/u/.cache/rules_pipeline");
  });
});
