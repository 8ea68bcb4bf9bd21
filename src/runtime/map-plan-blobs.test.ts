/**
 * The plan as its workers read it (map-plan-blobs.ts): a header and one slice per index, so a pod reads its own
 * items and not the whole plan; and the map worker (map-worker.ts) run on one index of a directory store, with the
 * real task threads: only that index's items run, and a plan blob that is missing, altered or of another version is
 * refused naming it (exit 42, EXIT_NOT_RETRIABLE).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT_NOT_RETRIABLE } from "./map-chunk";
import { encodeValue, resultKey, sha256Hex } from "./map-codec";
import { planMap } from "./map-plan";
import { readPlanChunk } from "./map-plan-blobs";
import { DirStore } from "./map-store-dir";
import { runMapWorker } from "./map-worker";
import { blobKey, type ObjectStore } from "./object-store";

const tmp = mkdtempSync(join(tmpdir(), "map-plan-blobs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const app = join(tmp, "app");
mkdirSync(app);
writeFileSync(join(app, "square.js"), "exports.square = (n) => n * n;\n");
const TASK = { module: "square.js", export: "square" };

/** A store that counts what is read from it, in requests and bytes. */
class Counting implements ObjectStore {
  gets = 0;
  bytes = 0;
  constructor(readonly inner: ObjectStore) {}
  get where() {
    return this.inner.where;
  }
  check() {
    return this.inner.check();
  }
  list(dir: string, limit: number) {
    return this.inner.list(dir, limit);
  }
  has(key: string) {
    return this.inner.has(key);
  }
  put(key: string, body: Buffer) {
    return this.inner.put(key, body);
  }
  async get(key: string, maxBytes: number) {
    const b = await this.inner.get(key, maxBytes);
    this.gets++;
    this.bytes += b?.length ?? 0;
    return b;
  }
}

/** Stores `values` as items of a plan in chunks of `chunkSize`; the planned map. */
async function planned(store: ObjectStore, values: number[], chunkSize: number) {
  const digests: string[] = [];
  for (const v of values) {
    const bytes = encodeValue(v);
    digests.push(sha256Hex(bytes));
    await store.put(blobKey(sha256Hex(bytes)), bytes);
  }
  const p = await planMap({
    store,
    code: `file:${"a".repeat(64)}`,
    task: TASK,
    digests,
    parallelism: 4,
    chunkSize,
    timeoutMs: 0,
    maxValueBytes: 1 << 20,
  });
  return { ...p, digests };
}

describe("a map's plan in blobs", () => {
  it("an index reads the header and its own slice: its items, in order, as chunk 0; not the other indexes'", async () => {
    const store = new DirStore(join(tmp, "s1"));
    const values = Array.from({ length: 1000 }, (_, i) => i);
    const p = await planned(store, values, 10);
    expect(p.plan.chunks).toHaveLength(100);
    const counting = new Counting(store);
    const chunk = await readPlanChunk(counting, p.planHex, 37);
    expect(chunk.items).toEqual(p.plan.items.slice(370, 380));
    expect(chunk.indices).toEqual(p.plan.indices.slice(370, 380));
    expect(chunk.chunks).toEqual([[0, 10]]);
    expect([chunk.code, chunk.task]).toEqual([p.plan.code, TASK]);
    // Two reads, a fraction of what the whole plan (~75 bytes an item) would be.
    expect(counting.gets).toBe(2);
    expect(counting.bytes).toBeLessThan(Buffer.byteLength(JSON.stringify(p.plan)) / 5);
    await expect(readPlanChunk(store, p.planHex, 100)).rejects.toThrow(
      `plan sha256:${p.planHex}: it has 100 indexes, not index 100`,
    );
  });

  it("the worker of one index runs that index's items only and stores their results", async () => {
    const root = join(tmp, "s2");
    const store = new DirStore(root);
    const p = await planned(store, [1, 2, 3, 4, 5, 6, 7], 3);
    const err: string[] = [];
    const env = {
      PIPELINE_MAP_STORE: root,
      PIPELINE_MAP_PLAN: p.planHex,
      PIPELINE_MAP_INDEX: "1",
      PIPELINE_MAP_APP_ROOT: app,
    };
    expect(
      await runMapWorker(
        env,
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(0);
    const stored = await Promise.all(p.digests.map((d) => store.has(resultKey(p.plan.code, TASK, d))));
    expect([stored, err]).toEqual([[false, false, false, true, true, true, false], []]);
  });

  it("a plan blob that is missing, altered, or of another version: exit 42 naming it", async () => {
    const root = join(tmp, "s3");
    const store = new DirStore(root);
    const p = await planned(store, [1, 2, 3, 4], 2);
    const run = async (plan: string, index: string) => {
      const err: string[] = [];
      const env = {
        PIPELINE_MAP_STORE: root,
        PIPELINE_MAP_PLAN: plan,
        PIPELINE_MAP_INDEX: index,
        PIPELINE_MAP_APP_ROOT: app,
      };
      return {
        code: await runMapWorker(
          env,
          () => {},
          (l) => err.push(l),
        ),
        err: err.join("\n"),
      };
    };
    expect(await run("b".repeat(64), "0")).toEqual({
      code: EXIT_NOT_RETRIABLE,
      err: `map worker: the plan sha256:${"b".repeat(64)}: not in the store ${store.where}`,
    });
    // Index 1's slice altered in the store.
    const header = JSON.parse(readFileSync(join(root, blobKey(p.planHex)), "utf8")) as { slices: string[] };
    writeFileSync(join(root, blobKey(header.slices[1])), '{"items":[],"indices":[]}');
    expect(await run(p.planHex, "1")).toEqual({
      code: EXIT_NOT_RETRIABLE,
      err: `map worker: index 1 of the plan sha256:${p.planHex} (sha256:${header.slices[1]}): the store's bytes do not have its digest`,
    });
    // A plan written whole, as the first version did: refused, naming the likely cause.
    const old = Buffer.from(JSON.stringify(p.plan)); // v: 1
    await store.put(blobKey(sha256Hex(old)), old);
    const r = await run(sha256Hex(old), "0");
    expect(r.code).toBe(EXIT_NOT_RETRIABLE);
    expect(r.err).toContain("not a map plan of this version (the image's runtime and the caller's differ?)");
  });
});
