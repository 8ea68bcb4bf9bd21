/**
 * A map's requests to its store (issue #73, P19): small items travel in the plan (map-items.ts, map-plan-blobs.ts)
 * instead of a PUT each before the Job and a GET each in the pods; the other items are written several at once
 * (in-flight.ts, bounded by count and bytes); a chunk's results are written while the task goes on (map-chunk.ts),
 * its records asked about at once, and an item that fails waits for the writes of the ones before it. Run on a
 * directory store with the real task threads, the store counting its requests.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CurrentItem, lastItemOf } from "../map/worker-output";
import { InFlight } from "./in-flight";
import { EVENT_PREFIX, type ChunkEvent, runChunk } from "./map-chunk";
import { encodeValue, INLINE_RESULT_BYTES, resultKey, sha256Hex } from "./map-codec";
import { INLINE_ITEM_BYTES, ItemWriter } from "./map-items";
import { planMap, readResults } from "./map-plan";
import { readPlanChunk } from "./map-plan-blobs";
import { DirStore } from "./map-store-dir";
import { TaskThread } from "./map-thread";
import { runMapWorker } from "./map-worker";
import { blobKey, type ObjectStore } from "./object-store";

const tmp = mkdtempSync(join(tmpdir(), "map-items-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const app = join(tmp, "app");
mkdirSync(app);
writeFileSync(
  join(app, "task.js"),
  "exports.square = (n) => { if (n === 13) throw new Error('thirteen'); return n < 0 ? 'y'.repeat(-n) : n * n; };\n",
);
const TASK = { module: "task.js", export: "square" };
const CODE = `file:sha256:${"a".repeat(64)}`;

/** planMap with this file's code and task, one parallel slot, no timeout and a 1 MiB bound. */
function planOf(
  store: ObjectStore,
  digests: readonly string[],
  chunkSize: number,
  inline?: ReadonlyMap<string, Buffer>,
) {
  return planMap({
    store,
    code: CODE,
    task: TASK,
    digests,
    inline,
    parallelism: 1,
    chunkSize,
    timeoutMs: 0,
    maxValueBytes: 1 << 20,
  });
}

/** A store that counts its requests by kind and key prefix, and can hold its PUTs of records back. */
class Counting implements ObjectStore {
  readonly calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    readonly inner: ObjectStore,
    readonly putDelayMs = 0,
  ) {}
  get where() {
    return this.inner.where;
  }
  check() {
    return this.inner.check();
  }
  private log(kind: string, key: string) {
    this.calls.push(`${kind} ${key.split("/")[0]}`);
  }
  count(call: string) {
    return this.calls.filter((c) => c === call).length;
  }
  list(dir: string, limit: number) {
    this.log("LIST", dir);
    return this.listing ? this.inner.list(dir, limit) : Promise.resolve(undefined);
  }
  listing = true;
  has(key: string) {
    this.log("HEAD", key);
    return this.inner.has(key);
  }
  get(key: string, maxBytes: number) {
    this.log("GET", key);
    return this.inner.get(key, maxBytes);
  }
  async put(key: string, body: Buffer) {
    this.log("PUT", key);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.putDelayMs) await new Promise((r) => setTimeout(r, this.putDelayMs));
      await this.inner.put(key, body);
    } finally {
      this.inFlight--;
    }
  }
}

describe("bounded writes (InFlight)", () => {
  it("holds at most `limit` calls and `budget` bytes, lets one larger piece through alone, stops at the first failure", async () => {
    const w = new InFlight(3, 100);
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    const call = (bytes: number, ms: number) => async () => {
      running++;
      most = Math.max(most, running);
      seen.push(bytes);
      await new Promise((r) => setTimeout(r, ms));
      running--;
    };
    for (let i = 0; i < 6; i++) await w.add(10, call(10, 5));
    await w.drain();
    expect(most).toBe(3);
    most = 0;
    await w.add(60, call(60, 10));
    await w.add(60, call(60, 10)); // 120 > 100: waits for the first
    expect(most).toBe(1);
    await w.add(500, call(500, 1)); // larger than the budget: alone
    await w.drain();
    expect(seen).toEqual([10, 10, 10, 10, 10, 10, 60, 60, 500]);
    const f = new InFlight(2, 1000);
    await f.add(1, async () => {
      throw new Error("the store said no");
    });
    await new Promise((r) => setTimeout(r, 1));
    await expect(f.add(1, async () => {})).rejects.toThrow("the store said no");
    await expect(f.drain()).rejects.toThrow("the store said no");
  });
});

describe("items on their way to the store (ItemWriter)", () => {
  it("small items are kept for the plan, not written; larger ones are written once each, several at once", async () => {
    const store = new Counting(new DirStore(join(tmp, "w1")), 5);
    const w = new ItemWriter(store);
    const small = Array.from({ length: 200 }, (_, n) => encodeValue({ n }));
    const large = Array.from({ length: 20 }, (_, n) => encodeValue("x".repeat(INLINE_ITEM_BYTES + n)));
    for (const b of [...small, ...large, ...large.slice(0, 5), ...small.slice(0, 5)]) await w.add(b);
    await w.finish();
    expect(w.digests).toHaveLength(230);
    expect(w.inline.size).toBe(200);
    expect(store.count("PUT blobs")).toBe(20);
    expect(store.maxInFlight).toBeGreaterThan(1);
  });
});

describe("a chunk's requests (runChunk)", () => {
  /** A plan of `values` (small ones in it, as `pipeline map` makes it), stored in a fresh directory store. */
  async function planned(name: string, values: number[], chunkSize: number, putDelayMs = 0) {
    const store = new Counting(new DirStore(join(tmp, name)), putDelayMs);
    const w = new ItemWriter(store);
    for (const v of values) await w.add(encodeValue(v));
    await w.finish();
    const p = await planOf(store, w.digests, chunkSize, w.inline);
    return { store, digests: w.digests, ...p };
  }

  it("a pod's index reads its header and slice, no item, and stores every small result in its record", async () => {
    const values = Array.from({ length: 40 }, (_, i) => i + 100);
    const p = await planned("c1", values, 10);
    expect(p.store.count("PUT blobs")).toBe(5); // four slices and the header: no item
    // Which results are stored: one listing, no HEAD per item.
    expect([p.store.count("LIST results"), p.store.count("HEAD results")]).toEqual([1, 0]);
    const chunk = await readPlanChunk(p.store, p.planHex, 2);
    expect(chunk.inline?.size).toBe(10);
    p.store.calls.length = 0;
    const events: string[] = [];
    const env = { PIPELINE_MAP_STORE: "", PIPELINE_MAP_PLAN: p.planHex, PIPELINE_MAP_INDEX: "2" };
    // The worker as a pod runs it, on the counting store (openStore is the directory's: wrap it by running the chunk).
    const thread = await TaskThread.start(join(app, TASK.module), TASK.export, "task");
    try {
      const plan = await readPlanChunk(p.store, env.PIPELINE_MAP_PLAN, 2);
      expect(
        await runChunk({
          store: p.store,
          plan,
          planHex: p.planHex,
          chunk: 0,
          thread,
          event: (e) => events.push(JSON.stringify(e)),
        }),
      ).toBeUndefined();
    } finally {
      await thread.stop();
    }
    expect(p.store.count("GET blobs")).toBe(2); // the header and the slice
    expect(p.store.count("HEAD results")).toBe(10);
    expect(p.store.count("PUT results")).toBe(10);
    expect(p.store.count("PUT blobs")).toBe(0); // each result in its record
    const stored = await Promise.all(p.digests.map((d) => p.store.has(resultKey(CODE, TASK, d))));
    expect(stored.map((s, i) => (s ? i : -1)).filter((i) => i >= 0)).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    expect(events.filter((e) => e.includes('"done"'))).toHaveLength(10);
  });

  it("planning asks key by key when the store holds more results than there are items, or may not list", async () => {
    const p = await planned("c5", [1, 2, 3, 4], 2);
    for (const d of p.digests.slice(0, 3)) await p.store.inner.put(resultKey(CODE, TASK, d), Buffer.from("{}"));
    await p.store.inner.put("results/someone-elses", Buffer.from("{}"));
    await p.store.inner.put("results/and-another", Buffer.from("{}"));
    for (const listing of [true, false]) {
      p.store.listing = listing;
      p.store.calls.length = 0;
      const again = await planOf(p.store, p.digests, 2);
      expect([again.stored, again.plan.items]).toEqual([3, [p.digests[3]]]);
      expect([p.store.count("LIST results"), p.store.count("HEAD results")]).toEqual([1, 4]);
    }
    // When the listing holds them all, it alone decides.
    p.store.listing = true;
    p.store.calls.length = 0;
    const few = await planOf(p.store, [...p.digests, ...Array.from({ length: 4 }, (_, i) => sha256Hex(`x${i}`))], 2);
    expect([few.stored, p.store.count("HEAD results")]).toEqual([3, 0]);
  });

  it("the map worker runs an index of such a plan from the store: the same results", async () => {
    const root = join(tmp, "c2");
    const store = new DirStore(root);
    const w = new ItemWriter(store);
    for (const v of [1, 2, 3, 4, 5]) await w.add(encodeValue(v));
    await w.finish();
    const p = await planOf(store, w.digests, 5, w.inline);
    const err: string[] = [];
    const code = await runMapWorker(
      { PIPELINE_MAP_STORE: root, PIPELINE_MAP_PLAN: p.planHex, PIPELINE_MAP_INDEX: "0", PIPELINE_MAP_APP_ROOT: app },
      () => {},
      (l) => err.push(l),
    );
    expect([code, err]).toEqual([0, []]);
    const results = await Promise.all(w.digests.map((d) => store.has(resultKey(CODE, TASK, d))));
    expect(results).toEqual([true, true, true, true, true]);
  });

  it("a result above INLINE_RESULT_BYTES is a blob; both kinds read back in order, each checked against its digest", async () => {
    const values = [2, -(INLINE_RESULT_BYTES + 1), 3];
    const p = await planned("c6", values, 3);
    p.store.calls.length = 0;
    const thread = await TaskThread.start(join(app, TASK.module), TASK.export, "task");
    try {
      const plan = await readPlanChunk(p.store, p.planHex, 0);
      expect(plan.inlineResultBytes).toBe(INLINE_RESULT_BYTES);
      expect(await runChunk({ store: p.store, plan, planHex: p.planHex, chunk: 0, thread })).toBeUndefined();
    } finally {
      await thread.stop();
    }
    expect([p.store.count("PUT blobs"), p.store.count("PUT results")]).toEqual([1, 3]);
    const read = async () => {
      const got: unknown[] = [];
      await readResults({ store: p.store, code: CODE, task: TASK, maxValueBytes: 1 << 20 }, p.digests, (v) =>
        got.push(v),
      );
      return got;
    };
    p.store.calls.length = 0;
    expect(await read()).toEqual([4, "y".repeat(INLINE_RESULT_BYTES + 1), 9]);
    expect([p.store.count("GET results"), p.store.count("GET blobs")]).toEqual([3, 1]);
    // A record whose carried bytes are not its result's: the item is named, nothing is returned for it.
    const key = resultKey(CODE, TASK, p.digests[2]);
    const record = JSON.parse((await p.store.inner.get(key, 1 << 16))!.toString()) as Record<string, unknown>;
    expect(Buffer.from(String(record.inline), "base64")).toEqual(encodeValue(9));
    await p.store.inner.put(
      key,
      Buffer.from(JSON.stringify({ ...record, inline: encodeValue(10).toString("base64") })),
    );
    await expect(read()).rejects.toThrow(`${key}: the result of item 2 is missing or does not match its digest`);
  });

  for (const v of [2, 3])
    it(`a plan of version ${v} (a caller from before: no result in its record${v === 2 ? ", items all blobs" : ""}) is still run`, async () => {
      const root = join(tmp, `c4-${v}`);
      const store = new DirStore(root);
      const digests: string[] = [];
      const w = new ItemWriter(store);
      for (const n of [7, 8]) {
        const bytes = encodeValue(n);
        digests.push(sha256Hex(bytes));
        if (v === 2) await store.put(blobKey(sha256Hex(bytes)), bytes);
        else await w.add(bytes);
      }
      const p = await planOf(store, digests, 2, v === 2 ? undefined : w.inline);
      const header = JSON.parse(readFileSync(join(root, blobKey(p.planHex)), "utf8")) as Record<string, unknown>;
      expect([header.v, header.inlineResultBytes]).toEqual([4, INLINE_RESULT_BYTES]);
      const { inlineResultBytes: _, ...older } = header;
      const old = Buffer.from(JSON.stringify({ ...older, v }));
      await store.put(blobKey(sha256Hex(old)), old);
      const env = {
        PIPELINE_MAP_STORE: root,
        PIPELINE_MAP_PLAN: sha256Hex(old),
        PIPELINE_MAP_INDEX: "0",
        PIPELINE_MAP_APP_ROOT: app,
      };
      expect(
        await runMapWorker(
          env,
          () => {},
          () => {},
        ),
      ).toBe(0);
      // Records as a caller from before reads them: the result a blob, the record naming it.
      for (const [i, d] of digests.entries()) {
        const record = JSON.parse((await store.get(resultKey(CODE, TASK, d), 1 << 16))!.toString()) as {
          result: string;
          inline?: string;
        };
        expect(record.inline).toBeUndefined();
        expect(await store.get(blobKey(record.result), 1 << 16)).toEqual(encodeValue([49, 64][i]));
      }
    });

  it("an item that throws: the results before it are stored before the chunk ends, the item is the current one", async () => {
    const values = [10, 11, 12, 13, 14];
    const p = await planned("c3", values, 5, 30);
    const thread = await TaskThread.start(join(app, TASK.module), TASK.export, "task");
    const events: ChunkEvent[] = [];
    let failure: Awaited<ReturnType<typeof runChunk>>;
    try {
      failure = await runChunk({
        store: p.store,
        plan: p.plan,
        planHex: p.planHex,
        chunk: 0,
        thread,
        event: (e) => events.push(e),
      });
    } finally {
      await thread.stop();
    }
    expect(failure).toMatchObject({ index: 3, kind: "threw", message: "thirteen", retry: true });
    // Its three predecessors stored (the PUTs were slow: the chunk waited for them), the later item not run.
    const stored = await Promise.all(p.digests.map((d) => p.store.inner.has(resultKey(CODE, TASK, d))));
    expect(stored).toEqual([true, true, true, false, false]);
    expect(p.store.maxInFlight).toBeGreaterThan(1); // the writes overlapped
    // The log a pod leaves: whatever the order of `done` and the next `start`, the failing item is the current one.
    const lines = events.map((e) => EVENT_PREFIX + JSON.stringify(e));
    expect(lastItemOf([...lines, "Error: thirteen"], 5)).toEqual({ current: 3, tail: ["Error: thirteen"] });
  });

  it("the current item of out-of-order events: the last one started and not done", () => {
    const c = new CurrentItem();
    for (const e of [
      { kind: "start", index: 1 },
      { kind: "start", index: 2 },
      { kind: "done", index: 1, reused: false },
    ] as const)
      c.see(e);
    expect(c.current).toBe(2);
    c.see({ kind: "done", index: 2, reused: false });
    expect(c.current).toBeUndefined();
  });
});
