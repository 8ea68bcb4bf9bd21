/** sideBySide (measure.ts) for more than two sides: each round runs every side once, in an order that alternates. */
import { type Stat, stat } from "./measure";

/**
 * Runs each side `reps` times after `warmup` unmeasured rounds. Round i runs the sides in the given order when i is
 * even and in reverse when odd (A B C D, D C B A, ...), so drift and caches favour no side. Each side returns its
 * measured value.
 */
export async function rounds(reps: number, warmup: number, sides: (() => Promise<number>)[]): Promise<Stat[]> {
  for (let i = 0; i < warmup; i++) for (const s of sides) await s();
  const samples: number[][] = sides.map(() => []);
  for (let i = 0; i < reps; i++) {
    const order = sides.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) samples[k].push(await sides[k]());
  }
  return samples.map((s) => stat(s));
}
