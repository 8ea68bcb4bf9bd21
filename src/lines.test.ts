import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { lineWriter, prefixedLines } from "./lines";

describe("lines", () => {
  it("cuts chunks into lines, prefixes each, and flushes a last line without newline at the end", async () => {
    const sink = new PassThrough();
    let got = "";
    sink.on("data", (d) => (got += d));
    const w = prefixedLines("[1] ", sink);
    w.write("a\nb");
    w.write("c\r\n\nd");
    expect(got).toBe("[1] a\n[1] bc\n[1] \n");
    await new Promise<void>((res) => w.end(res));
    expect(got).toBe("[1] a\n[1] bc\n[1] \n[1] d\n");
  });

  it("calls back once per line", async () => {
    const lines: string[] = [];
    const w = lineWriter((l) => lines.push(l));
    w.write(Buffer.from("x\ny"));
    await new Promise<void>((res) => w.end(res));
    expect(lines).toEqual(["x", "y"]);
  });
});
