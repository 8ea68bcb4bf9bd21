/**
 * What the map worker in an image says, read back by the targets that run it elsewhere (container.ts, kubernetes.ts):
 * its event lines on stdout (map-chunk.ts EVENT_PREFIX: which item it starts and finishes) and the failure record it
 * stores for an item that failed. The image is not ours, so neither is its output: every line and record is checked,
 * and one that is not what the worker writes is treated as plain output (a line) or as absent (a record).
 */
import { type ChunkEvent, EVENT_PREFIX, failureKey, type ItemFailure } from "../runtime/map-chunk";
import type { MapRun } from "./target";

/** An event line of the worker (`pipeline-map: {json}`), checked; undefined for any other line. */
export function chunkEvent(line: string): ChunkEvent | undefined {
  if (!line.startsWith(EVENT_PREFIX)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(EVENT_PREFIX.length));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const { kind, index, reused } = v as Record<string, unknown>;
  if (typeof index !== "number" || !Number.isSafeInteger(index)) return undefined;
  if (kind === "start") return { kind, index };
  if (kind === "done") return { kind, index, reused: reused === true };
  return undefined;
}

/** The failure record the worker stored for item `index`, if it could. */
export async function readFailure(run: MapRun, index: number): Promise<ItemFailure | undefined> {
  const bytes = await run.store.get(failureKey(run.planHex, index), 1024 * 1024);
  if (!bytes) return undefined;
  let r: unknown;
  try {
    r = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof r !== "object" || r === null) return undefined;
  const { message, kind, retry, stack } = r as Record<string, unknown>;
  if (typeof message !== "string" || typeof kind !== "string") return undefined;
  const kinds: readonly ItemFailure["kind"][] = ["threw", "timeout", "crashed", "unserialisable", "bad-item", "load"];
  const known = kinds.find((k) => k === kind);
  if (!known) return undefined;
  return {
    index,
    item: "",
    kind: known,
    message,
    retry: retry === true,
    ...(typeof stack === "string" ? { stack } : {}),
  };
}

/** The item a worker's log shows it was on when it stopped (its last `start` without a `done`), and its last lines. */
export function lastItemOf(lines: readonly string[], tailLines: number): { current?: number; tail: string[] } {
  let current: number | undefined;
  const tail: string[] = [];
  for (const line of lines) {
    const e = chunkEvent(line);
    if (e) current = e.kind === "start" ? e.index : undefined;
    else tail.push(line);
  }
  return { current, tail: tail.slice(-tailLines) };
}
