/**
 * What a map's target is to the rest of src/map/: something that runs every index of a stored plan and says which
 * one failed for good. Three of them, one meaning (docs/scale-out.md): `inprocess` (inprocess.ts), `container`
 * (container.ts) and `kubernetes` (an Indexed Job).
 */
import type { ChunkEvent, ItemFailure, MapPlan } from "../runtime/map-chunk";
import type { ObjectStore } from "../runtime/object-store";

/** Where a map reports as it goes (progress.ts). */
export interface MapProgress {
  item(e: ChunkEvent): void;
  retry(index: number, attempt: number, message: string): void;
  failed(f: ItemFailure): void;
}

export interface MapRun {
  store: ObjectStore;
  plan: MapPlan;
  planHex: string;
  /** `task pkg/score.js#score`, for messages. */
  what: string;
  parallelism: number;
  retries: number;
  progress: MapProgress;
  signal: AbortSignal;
}

/** The index that failed for good: the item's failure when the worker stored one, and the last lines of its log. */
export interface TargetFailure {
  attempts: number;
  failure?: ItemFailure;
  log: string[];
  message: string;
}

export interface MapTarget {
  name: "inprocess" | "container" | "kubernetes";
  /** Checks, before anything runs, that the task can be called where the target runs it. */
  check(run: MapRun): Promise<void>;
  run(run: MapRun): Promise<TargetFailure | undefined>;
}
