/**
 * runMap inside an image without the CLI (map-in-image.ts): the call on this process's threads with a directory
 * store, as a container's runMap makes it, and the refusals of the kubernetes target before anything is created.
 * The cluster path itself runs on the real cluster (test/e2e/k8s-real-map.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mapInImage, type InImageMapOptions } from "./map-in-image";

const tmp = mkdtempSync(join(tmpdir(), "map-in-image-"));
const app = join(tmp, "app");
mkdirSync(app);
writeFileSync(
  join(app, "score.js"),
  `const fs = require("node:fs");
exports.score = async (item) => {
  fs.appendFileSync(${JSON.stringify(join(tmp, "calls"))}, "x");
  if (item && item.fail) throw new Error("refused " + item.fail);
  return { n: item.n, square: item.n * item.n };
};
`,
);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const opts = (over: Partial<InImageMapOptions>): InImageMapOptions => ({
  on: "inprocess",
  file: join(app, "score.js"),
  export: "score",
  appRoot: app,
  items: [],
  artifacts: join(tmp, "store"),
  parallelism: 3,
  retries: 1,
  chunkSize: 2,
  timeoutMs: 0,
  maxValueBytes: 1024 * 1024,
  env: {},
  signal: new AbortController().signal,
  log: () => {},
  ...over,
});
const calls = () => readFileSync(join(tmp, "calls"), "utf8").length;

describe("runMap inside an image (no CLI)", () => {
  it("maps on this process's threads: results in item order; called again, every result is reused", async () => {
    const items = Array.from({ length: 20 }, (_, n) => ({ n }));
    const out = await mapInImage(opts({ items }));
    expect(out).toEqual(items.map(({ n }) => ({ n, square: n * n })));
    const before = calls();
    expect(await mapInImage(opts({ items }))).toEqual(out);
    expect(calls()).toBe(before);
  });

  it("a throwing item fails the call after its retries, naming the item and the error", async () => {
    const items = [{ n: 1 }, { n: 2, fail: "two" }];
    await expect(mapInImage(opts({ items, artifacts: join(tmp, "store-2") }))).rejects.toMatchObject({
      code: "E_MAP_TASK",
      message: expect.stringMatching(/task score\.js#score: item 1 failed after 2 attempts: refused two/),
    });
  });

  it("an item that cannot be stored is E_MAP_ITEM naming it, before any task runs", async () => {
    await expect(mapInImage(opts({ items: [{ n: 1 }, { n: 2, f: () => 1 }] }))).rejects.toMatchObject({
      code: "E_MAP_ITEM",
      message: expect.stringContaining("item 1: item.f"),
    });
  });

  it("a task outside the app root, or not exported, is E_MAP_TASK_NOT_FOUND naming it", async () => {
    writeFileSync(join(tmp, "outside.js"), "exports.score = (x) => x;\n");
    await expect(mapInImage(opts({ file: join(tmp, "outside.js"), items: [1] }))).rejects.toMatchObject({
      code: "E_MAP_TASK_NOT_FOUND",
      message: expect.stringContaining("outside the pipeline's app root"),
    });
    await expect(mapInImage(opts({ export: "missing", items: [1] }))).rejects.toMatchObject({
      code: "E_MAP_TASK_NOT_FOUND",
      message: expect.stringContaining("missing"),
    });
  });

  it("on kubernetes: a pod without the map's Job template, or a store the pods cannot share, is refused first", async () => {
    await expect(mapInImage(opts({ on: "kubernetes", items: [1] }))).rejects.toMatchObject({
      code: "E_MAP_TARGET",
      message: expect.stringContaining("PIPELINE_MAP_JOB is not set"),
    });
    const template = JSON.stringify({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { namespace: "ml", generateName: "map-x-" },
      spec: { template: { spec: { containers: [{ image: `r.example/a@sha256:${"a".repeat(64)}` }] } } },
    });
    await expect(
      mapInImage(opts({ on: "kubernetes", items: [1], env: { PIPELINE_MAP_JOB: template } })),
    ).rejects.toMatchObject({
      code: "E_MAP_TARGET",
      message: expect.stringContaining(`artifacts is ${JSON.stringify(join(tmp, "store"))}`),
    });
  });
});
