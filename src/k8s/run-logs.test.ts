import { describe, expect, it } from "vitest";
import { LogCursor, sinceTimeOf, splitStamped } from "./run-logs";

describe("log timestamps", () => {
  it("splits RFC3339Nano with Go's trimmed zeros, and lines without a stamp", () => {
    const a = splitStamped("2026-11-23T14:00:01.5Z half a second");
    const b = splitStamped("2026-11-23T14:00:01.500000001Z one nanosecond later");
    const c = splitStamped("2026-11-23T14:00:01Z whole second");
    expect(a.text).toBe("half a second");
    expect(b.stamp! - a.stamp!).toBe(1n);
    expect(a.stamp! - c.stamp!).toBe(500_000_000n);
    expect(splitStamped("2026-11-23T15:00:01+01:00 zone").stamp).toBe(c.stamp);
    expect(splitStamped("no stamp here")).toEqual({ text: "no stamp here" });
    expect(sinceTimeOf(b.stamp!)).toBe("2026-11-23T14:00:01Z");
  });

  it("a reopened stream (from the same second) prints only what was not printed, lines sharing a stamp too", () => {
    const cursor = new LogCursor();
    const s = (t: string) => splitStamped(`2026-11-23T14:00:0${t}Z x`).stamp;
    const accept = (t: string) => cursor.accept(s(t), "x");
    const first = ["1.1", "1.2", "1.2", "1.3"].map(accept);
    expect(first).toEqual([true, true, true, true]);
    expect(cursor.sinceTime).toBe("2026-11-23T14:00:01Z");
    cursor.reopen();
    const again = ["1.1", "1.2", "1.2", "1.3", "1.3", "2.0"].map(accept);
    // 1.3 was printed once: its second occurrence in the new stream is a new line with the same stamp.
    expect(again).toEqual([false, false, false, false, true, true]);
    cursor.reopen();
    expect(cursor.sinceTime).toBe("2026-11-23T14:00:02Z");
    expect(["2.0", "2.1"].map(accept)).toEqual([false, true]);
  });

  it("a line out of timestamp order (stderr stamped before the stdout line it follows) is printed once, stream or reopen", () => {
    // As CRI logs have it: the runtime stamps stdout and stderr in separate readers.
    const line = (t: string, text: string) => splitStamped(`2026-11-23T14:00:0${t}Z ${text}`);
    const log = [line("1.20", "args=a"), line("1.30", "FOO=bar"), line("1.25", "to stderr")];
    const cursor = new LogCursor();
    expect(log.map((l) => cursor.accept(l.stamp, l.text))).toEqual([true, true, true]);
    expect(cursor.sinceTime).toBe("2026-11-23T14:00:01Z");
    // The final read after the container ended sends the second again: nothing twice.
    cursor.reopen();
    expect(log.map((l) => cursor.accept(l.stamp, l.text))).toEqual([false, false, false]);
    // A follow stream that ended before the stderr line reached the log: the final read prints it.
    const late = new LogCursor();
    expect(log.slice(0, 2).map((l) => late.accept(l.stamp, l.text))).toEqual([true, true]);
    late.reopen();
    expect(log.map((l) => late.accept(l.stamp, l.text))).toEqual([false, false, true]);
    // Two lines with the same stamp and different text are two lines.
    const same = new LogCursor();
    expect([line("3.0", "a"), line("3.0", "b")].map((l) => same.accept(l.stamp, l.text))).toEqual([true, true]);
  });

  it("keeps only the newest second's lines to recognise (a long log does not grow the cursor)", () => {
    const cursor = new LogCursor();
    const at = (ms: number, text: string) =>
      splitStamped(`${new Date(Date.UTC(2026, 10, 23, 14) + ms).toISOString()} ${text}`);
    for (let i = 0; i < 5000; i++) {
      const l = at(i * 250, `line ${i}`);
      expect(cursor.accept(l.stamp, l.text)).toBe(true);
      // Now and then a line stamped a few seconds back (out of order, older than a reopen sends again): printed.
      if (i % 100 === 99) {
        const old = at(i * 250 - 3000, `late ${i}`);
        expect(cursor.accept(old.stamp, old.text)).toBe(true);
      }
    }
    const inner = cursor as unknown as { lines: Map<string, unknown> };
    // 4 lines a second: the newest second's.
    expect(inner.lines.size).toBeLessThanOrEqual(4);
  });
});
