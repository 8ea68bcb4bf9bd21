/** The local schedule's Indexed Job meaning (map-schedule.ts): parallelism, per-index retries, FailIndex, fail-fast, abort. */
import { describe, expect, it } from "vitest";
import { type AttemptOutcome, schedule } from "./map-schedule";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("schedule", () => {
  it("never runs more than `parallelism` attempts at once, and runs every index once when all succeed", async () => {
    let running = 0;
    let most = 0;
    const ran: number[] = [];
    const failed = await schedule({
      indexes: 9,
      parallelism: 3,
      retries: 0,
      attempt: async (i) => {
        most = Math.max(most, ++running);
        await tick();
        running--;
        ran.push(i);
        return { ok: true };
      },
    });
    expect(failed).toBeUndefined();
    expect(most).toBe(3);
    expect(ran.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("retries a failing index up to `retries` times, before the indexes not started; then it succeeds", async () => {
    const order: string[] = [];
    const retried: [number, number][] = [];
    const failed = await schedule({
      indexes: 3,
      parallelism: 1,
      retries: 2,
      onRetry: (i, attempt) => retried.push([i, attempt]),
      attempt: async (i, attempt): Promise<AttemptOutcome> => {
        order.push(`${i}.${attempt}`);
        return i === 0 && attempt < 2 ? { ok: false, retry: true, message: "flaky" } : { ok: true };
      },
    });
    expect(failed).toBeUndefined();
    expect(order).toEqual(["0.0", "0.1", "0.2", "1.0", "2.0"]);
    expect(retried).toEqual([
      [0, 1],
      [0, 2],
    ]);
  });

  it("an index out of retries, or one whose failure no attempt changes, ends the map: the others are stopped, none starts", async () => {
    for (const [retry, attempts] of [
      [true, 2],
      [false, 1],
    ] as const) {
      const started: number[] = [];
      let stoppedOthers = 0;
      const failed = await schedule({
        indexes: 6,
        parallelism: 2,
        retries: 1,
        attempt: async (i, _a, signal) => {
          started.push(i);
          if (i === 0) return { ok: false, retry, message: "boom" };
          await new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
          stoppedOthers++;
          return { ok: false, retry: true, message: "stopped" };
        },
      });
      expect(failed).toEqual({ index: 0, attempts, message: "boom" });
      expect(stoppedOthers).toBe(1);
      expect(started.filter((i) => i > 1)).toEqual([]);
    }
  });

  it("an abort of the caller's signal stops the running attempts and is E_ABORTED", async () => {
    const stop = new AbortController();
    const run = schedule({
      indexes: 4,
      parallelism: 2,
      retries: 0,
      signal: stop.signal,
      attempt: (_i, _a, signal) =>
        new Promise((r) => signal.addEventListener("abort", () => r({ ok: false, retry: true, message: "stopped" }))),
    });
    setTimeout(() => stop.abort(), 5);
    await expect(run).rejects.toMatchObject({ code: "E_ABORTED" });
  });
});
