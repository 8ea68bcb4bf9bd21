/**
 * Bounded concurrency for I/O, one mechanism for the CLI and the map's code inside images (blob uploads and writes,
 * registry checks, a map's store requests): forEachLimited over a list known up front, InFlight for work that arrives
 * one piece at a time (a stream of items, a chunk's results) and is bounded by count and by bytes held.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */

/**
 * Runs `fn` over `items` with at most `limit` calls in flight. After the first failure no new call starts; the
 * ones in flight are awaited (so nothing keeps writing after this returns), then the first error is thrown.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

/**
 * Calls started one at a time, at most `limit` in flight and at most `budget` bytes held by them (one call is always
 * let through, so a piece larger than the budget still goes, alone). What the caller holds is then bounded by the
 * budget plus one piece. The first failure stops new calls: `add` throws it; `drain` awaits every call in flight and
 * throws it; `settle` awaits them and throws nothing (for a caller leaving on an error of its own, so that nothing
 * keeps writing after it returns).
 */
export class InFlight {
  private readonly running = new Set<Promise<void>>();
  private bytes = 0;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly limit: number,
    private readonly budget: number,
  ) {}

  /** Waits for room, then starts `fn`, counting `bytes` until it settles. */
  async add(bytes: number, fn: () => Promise<void>): Promise<void> {
    while (
      !this.failure &&
      this.running.size > 0 &&
      (this.running.size >= this.limit || this.bytes + bytes > this.budget)
    )
      await Promise.race(this.running);
    if (this.failure) throw this.failure.error;
    this.bytes += bytes;
    const call: Promise<void> = fn()
      .catch((e: unknown) => {
        this.failure ??= { error: e };
      })
      .finally(() => {
        this.bytes -= bytes;
        this.running.delete(call);
      });
    this.running.add(call);
  }

  /** Every call in flight done; the first failure thrown. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.failure) throw this.failure.error;
  }

  /** Every call in flight done, whatever they did. */
  async settle(): Promise<void> {
    while (this.running.size) await Promise.all(this.running);
  }
}
