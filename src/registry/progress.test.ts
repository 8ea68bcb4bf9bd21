import { describe, expect, it } from "vitest";
import { parseDigest } from "../oci/digest";
import { formatBytes, LineProgress, progressFor, progressForTerminal, silentProgress, TtyProgress } from "./progress";

function terminal(columns = 120) {
  const writes: string[] = [];
  return { writes, stream: { isTTY: true, columns, write: (s: string) => writes.push(s) } };
}
const A = parseDigest("sha256:" + "a".repeat(64), "A");
const B = parseDigest("sha256:" + "b".repeat(64), "B");

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
    expect(t.writes.at(-1)).toBe(`\x1b[2F\x1b[0Jlayer 1/1 ${"a".repeat(12)}: uploaded 10 B\nconfig 0 B / 10 B (0%)\n`);
    p.skip(B, "already there");
    expect(t.writes.at(-1)).toBe(`\x1b[1F\x1b[0J${"b".repeat(12)}: already there\n`);
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

describe("progress off a terminal, and rate/ETA on one", () => {
  it("TERM=dumb gets no cursor codes", () => {
    const { stream } = terminal();
    expect(progressForTerminal(stream, { TERM: "dumb" })).toBe(silentProgress);
    expect(progressFor({ isTTY: true, env: { TERM: "dumb" }, stderr: () => {} }, stream)).toBeInstanceOf(LineProgress);
  });

  it("in CI or when stderr is not a TTY: one plain line per finished or skipped blob, none while bytes move", () => {
    for (const [isTTY, env] of [
      [false, {}],
      [true, { CI: "true" }],
    ] as const) {
      const lines: string[] = [];
      let t = 0;
      const p = progressFor({ isTTY, env, stderr: (l) => lines.push(l) });
      expect(p).toBeInstanceOf(LineProgress);
      const lp = new LineProgress((l) => lines.push(l), { now: () => t });
      lp.blobStart(A, 3 * 1024 * 1024, "layer 1/2");
      t = 1500;
      lp.blobProgress(A, 1024);
      expect(lines).toEqual([]);
      lp.blobDone(A, "uploaded");
      lp.skip(B, "already present");
      expect(lines).toEqual([
        `layer 1/2 ${A.slice(7, 19)}: uploaded 3.0 MiB in 1.5s`,
        `${B.slice(7, 19)}: already present`,
      ]);
      for (const l of lines) expect(l).not.toMatch(/\x1b/);
    }
  });

  it("a terminal line shows the rate and the ETA once a transfer has run for a moment", () => {
    const t = terminal();
    let now = 0;
    const p = new TtyProgress(t.stream, { throttleMs: 0, now: () => now });
    p.blobStart(A, 10 * 1024 * 1024, "layer");
    now = 2000;
    p.blobProgress(A, 4 * 1024 * 1024);
    expect(t.writes.at(-1)).toContain("layer 4.0 MiB / 10.0 MiB (40%) 2.0 MiB/s ETA 3.0s");
  });
});
