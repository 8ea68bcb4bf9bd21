/**
 * What the map worker in an image says, read back by the targets that run it elsewhere (container.ts, kubernetes.ts):
 * its event lines on stdout (map-chunk.ts EVENT_PREFIX: which item it starts and finishes) and the failure record it
 * stores for an item that failed. The image is not ours, so neither is its output: every line and record is checked,
 * and one that is not what the worker writes is treated as plain output (a line) or as absent (a record).
 */
import { type ChunkEvent, EVENT_PREFIX, type ItemFailure } from "../runtime/map-chunk";
import { readFailure as readStoredFailure } from "../runtime/map-plan";
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

/** The failure record the worker stored for item `index` of the run, if it could (src/runtime/map-plan.ts). */
export function readFailure(run: MapRun, index: number): Promise<ItemFailure | undefined> {
  return readStoredFailure(run.store, run.planHex, index);
}

/**
 * The item a worker was on when it stopped: the last one it started whose `done` has not come (a `done` comes once
 * the result is stored, which can be after the next item's `start`: map-chunk.ts writes while the task goes on).
 */
export class CurrentItem {
  private readonly open: number[] = [];

  see(e: ChunkEvent): void {
    if (e.kind === "start") this.open.push(e.index);
    else {
      const at = this.open.lastIndexOf(e.index);
      if (at >= 0) this.open.splice(at, 1);
    }
  }

  get current(): number | undefined {
    return this.open.at(-1);
  }
}

/** The item a worker's log shows it was on when it stopped (CurrentItem), and its last lines. */
export function lastItemOf(lines: readonly string[], tailLines: number): { current?: number; tail: string[] } {
  const item = new CurrentItem();
  const tail: string[] = [];
  for (const line of lines) {
    const e = chunkEvent(line);
    if (e) item.see(e);
    else tail.push(line);
  }
  return { current: item.current, tail: tail.slice(-tailLines) };
}
