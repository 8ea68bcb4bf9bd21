/**
 * A map's items on their way into the store (docs/scale-out.md), whoever makes the call (`pipeline map` reading a
 * JSON-lines file, runMap inside a pod): each item's digest in the caller's order, the duplicates once, and each
 * distinct item kept one of two ways:
 *
 * - small ones (≤ INLINE_ITEM_BYTES, up to INLINE_TOTAL_BYTES of them per call) travel inside the plan's slices
 *   (map-plan-blobs.ts): the pod running an index has its items with its slice, with no request per item. A thousand
 *   items of a few bytes were a thousand PUTs before the Job and a GET before each item in the pods, one after the
 *   other: most of a small map's time beyond its pods' starts.
 * - the others are blobs under their digests, STORE_CONCURRENCY writes at once and at most STORE_BYTES_IN_FLIGHT held
 *   by them (or one larger item alone): what is held is that, the small ones kept, and the digests.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
import { InFlight } from "./in-flight";
import { sha256Hex } from "./map-codec";
import { type ObjectStore, putBlob, STORE_BYTES_IN_FLIGHT, STORE_CONCURRENCY } from "./object-store";

/** The largest item that travels in the plan. */
export const INLINE_ITEM_BYTES: number = 4 * 1024;
/** The most bytes of items one call carries in its plan (the rest go as blobs). */
export const INLINE_TOTAL_BYTES: number = 16 * 1024 * 1024;

export class ItemWriter {
  /** Each item's digest (hex), in the caller's order. */
  readonly digests: string[] = [];
  /** The small items, by digest: the plan carries them (MapPlan.inline). */
  readonly inline: Map<string, Buffer> = new Map();
  private inlineBytes = 0;
  private readonly blobs = new Set<string>();
  private readonly writes = new InFlight(STORE_CONCURRENCY, STORE_BYTES_IN_FLIGHT);

  constructor(private readonly store: ObjectStore) {}

  /** The next item's encoded bytes (map-codec.ts encodeValue): kept or written (waiting while the writes are full). */
  async add(bytes: Buffer): Promise<void> {
    const hex = sha256Hex(bytes);
    this.digests.push(hex);
    if (this.inline.has(hex) || this.blobs.has(hex)) return;
    if (bytes.length <= INLINE_ITEM_BYTES && this.inlineBytes + bytes.length <= INLINE_TOTAL_BYTES) {
      this.inline.set(hex, bytes);
      this.inlineBytes += bytes.length;
      return;
    }
    this.blobs.add(hex);
    await this.writes.add(bytes.length, () => putBlob(this.store, hex, bytes));
  }

  /** Every write done (the first one that failed thrown). */
  finish(): Promise<void> {
    return this.writes.drain();
  }

  /** Every write in flight ended, whatever it did: for a caller leaving on an error of its own. */
  settle(): Promise<void> {
    return this.writes.settle();
  }
}
