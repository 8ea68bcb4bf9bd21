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
    const first = ["1.1", "1.2", "1.2", "1.3"].map((t) => cursor.accept(s(t)));
    expect(first).toEqual([true, true, true, true]);
    expect(cursor.sinceTime).toBe("2026-11-23T14:00:01Z");
    cursor.reopen();
    const again = ["1.1", "1.2", "1.2", "1.3", "1.3", "2.0"].map((t) => cursor.accept(s(t)));
    // 1.3 was printed once: its second occurrence in the new stream is a new line with the same stamp.
    expect(again).toEqual([false, false, false, false, true, true]);
    cursor.reopen();
    expect(cursor.sinceTime).toBe("2026-11-23T14:00:02Z");
    expect(["2.0", "2.1"].map((t) => cursor.accept(s(t)))).toEqual([false, true]);
  });
});
