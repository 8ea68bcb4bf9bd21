import { describe, expect, it } from "vitest";
import { formatBytes, progressForTerminal, silentProgress, TtyProgress } from "./progress";

function terminal(columns = 120) {
  const writes: string[] = [];
  return { writes, stream: { isTTY: true, columns, write: (s: string) => writes.push(s) } };
}
const A = "sha256:" + "a".repeat(64);
const B = "sha256:" + "b".repeat(64);

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MiB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300 MiB");
  });
});

describe("TtyProgress", () => {
  it("keeps one line per active blob and redraws them in place", () => {
    let now = 0;
    const t = terminal();
    const p = new TtyProgress(t.stream, { throttleMs: 100, now: () => now });
    p.blobStart(A, 2048, "layer 1/2");
    expect(t.writes.at(-1)).toBe("layer 1/2 0 B / 2.0 KiB (0%)\n");
    p.blobStart(B, 1024, "config");
    // Cursor back one line, clear, redraw both.
    expect(t.writes.at(-1)).toBe("\x1b[1F\x1b[0Jlayer 1/2 0 B / 2.0 KiB (0%)\nconfig 0 B / 1.0 KiB (0%)\n");
    now = 150;
    p.blobProgress(A, 1024);
    expect(t.writes.at(-1)).toBe("\x1b[2F\x1b[0Jlayer 1/2 1.0 KiB / 2.0 KiB (50%)\nconfig 0 B / 1.0 KiB (0%)\n");
  });

  it("throttles progress redraws", () => {
    let now = 0;
    const t = terminal();
    const p = new TtyProgress(t.stream, { throttleMs: 100, now: () => now });
    p.blobStart(A, 100);
    const before = t.writes.length;
    for (let i = 1; i <= 50; i++) {
      now += 1;
      p.blobProgress(A, i);
    }
    expect(t.writes.length).toBe(before);
    now += 100;
    p.blobProgress(A, 60);
    expect(t.writes.length).toBe(before + 1);
  });

  it("prints finished and skipped blobs as permanent lines above the active ones", () => {
    const t = terminal();
    const p = new TtyProgress(t.stream, { now: () => 0 });
    p.blobStart(A, 10, "layer 1/1");
    p.blobStart(B, 10, "config");
    p.blobDone(A, "uploaded");
    expect(t.writes.at(-1)).toBe(`\x1b[2F\x1b[0Jlayer 1/1 ${"a".repeat(12)} uploaded 10 B\nconfig 0 B / 10 B (0%)\n`);
    p.skip(B, "already there");
    expect(t.writes.at(-1)).toBe(`\x1b[1F\x1b[0J${"b".repeat(12)} already there\n`);
  });

  it("cuts lines to the terminal width", () => {
    const t = terminal(20);
    new TtyProgress(t.stream).blobStart(A, 10, "a very long label that does not fit");
    expect(t.writes[0]).toBe("a very long label t\n");
  });
});

describe("progressForTerminal", () => {
  it("renders only on a TTY without CI", () => {
    const { stream } = terminal();
    expect(progressForTerminal(stream, {})).toBeInstanceOf(TtyProgress);
    expect(progressForTerminal(stream, { CI: "true" })).toBe(silentProgress);
    expect(progressForTerminal({ ...stream, isTTY: false }, {})).toBe(silentProgress);
  });
});
