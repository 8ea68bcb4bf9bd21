/** Bounded concurrency for I/O (blob uploads, blob writes, registry checks). */

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
