/**
 * A minimum rate judged per window of counted time, the one rule behind the client's minimum transfer rate
 * (registry/transfer-rate.ts: time counts while a response flows) and the dev registry's minimum body rate
 * (devregistry/stall-watchdog.ts: time counts while a request body is owed). The callers decide which time counts;
 * this decides when a window fell short.
 */
export interface RateShortfall {
  /** Bytes that arrived over the window. */
  bytes: number;
  /** The window's counted time. */
  ms: number;
}

export class RateWindow {
  private countedMs = 0;
  private from: number;

  /** `startBytes`: the running byte total when counting starts. */
  constructor(
    private readonly minBytesPerSecond: number,
    private readonly windowMs: number,
    startBytes = 0,
  ) {
    this.from = startBytes;
  }

  /**
   * Adds `countedMs` of counted time, with `bytesTotal` the running byte total. Once a window is full, returns what it
   * measured if it fell short of the rate, else starts the next window and returns undefined.
   */
  tick(countedMs: number, bytesTotal: number): RateShortfall | undefined {
    this.countedMs += countedMs;
    if (this.countedMs < this.windowMs) return undefined;
    const bytes = bytesTotal - this.from;
    if (bytes * 1000 < this.minBytesPerSecond * this.countedMs) return { bytes, ms: this.countedMs };
    this.countedMs = 0;
    this.from = bytesTotal;
    return undefined;
  }
}
