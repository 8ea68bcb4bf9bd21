import { spawnSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { entryDirs, modelsDir, rootfsDir, runsDir } from "./layout";
import { PRUNE_LOCK, stampName, stateDir } from "./names";
import { type Candidate, planPrune, pruneCache } from "./prune";
import { cacheUsage } from "./usage";
import { lockForPrune, touchStamp, useEntry } from "./use";

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;
const hex = (c: string) => c.repeat(64);

describe("planPrune", () => {
  const c = (path: string, bytes: number, daysAgo: number, inUse = false): Candidate => ({
    path,
    bytes,
    lastUse: NOW - daysAgo * DAY,
    inUse,
  });
  const cands = [c("a", 100, 10), c("b", 300, 1), c("c", 50, 20, true), c("d", 200, 5), c("e", 250, 5)];
  const plan = (o: { olderThanMs?: number; maxBytes?: number }) =>
    planPrune(cands, { ...o, now: NOW }).map((p) => `${p.entry.path}:${p.reason}`);

  it("removes nothing without limits", () => {
    expect(plan({})).toEqual([]);
  });

  it("removes entries not used for longer than olderThan, never one in use", () => {
    expect(plan({ olderThanMs: 7 * DAY })).toEqual(["a:age"]);
    expect(plan({ olderThanMs: 2 * DAY })).toEqual(["a:age", "d:age", "e:age"]);
  });

  it("removes the least recently used (larger first on a tie) until the rest fits, in-use bytes counted", () => {
    expect(plan({ maxBytes: 850 })).toEqual(["a:size"]);
    expect(plan({ maxBytes: 600 })).toEqual(["a:size", "e:size"]);
    expect(plan({ maxBytes: 0 })).toEqual(["a:size", "e:size", "d:size", "b:size"]);
    expect(plan({ maxBytes: 10_000 })).toEqual([]);
  });

  it("applies the age first, then the size to what is left", () => {
    expect(plan({ olderThanMs: 7 * DAY, maxBytes: 500 })).toEqual(["a:age", "e:size", "d:size"]);
  });
});

describe("pruneCache", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cache-prune-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function entry(dir: string, name: string, bytes: number, daysAgo?: number): string {
    const p = join(dir, name);
    mkdirSync(join(p, "d"), { recursive: true });
    writeFileSync(join(p, "d", "blob"), Buffer.alloc(bytes));
    if (daysAgo !== undefined) touchStamp(dir, name, new Date(Date.now() - daysAgo * DAY));
    return p;
  }

  function plantCache() {
    const [images, rootfs, models, layers] = entryDirs(root).map((d) => d.dir);
    return {
      oldImage: entry(images, hex("1"), 1000, 30),
      oldRootfs: entry(rootfs, hex("1"), 5000, 30),
      model: entry(models, hex("2"), 3000, 2),
      layer: entry(layers, hex("3"), 700, 1),
      leftover: entry(rootfs, `.${hex("4")}.tmp-${spawnSync(process.execPath, ["-e", "0"]).pid}-1-0badc0de`, 400),
    };
  }

  it("--dry-run lists what would go, with its bytes, and removes nothing", async () => {
    const e = plantCache();
    const r = await pruneCache(root, { olderThanMs: 7 * DAY, dryRun: true });
    expect(r.removed.map((x) => [x.kind, x.path, x.bytes, x.reason])).toEqual([
      ["temp", e.leftover, 400, "leftover"],
      ["images", e.oldImage, 1000, "age"],
      ["rootfs", e.oldRootfs, 5000, "age"],
    ]);
    expect(r.keptBytes).toBe(3700);
    for (const p of Object.values(e)) expect(existsSync(p)).toBe(true);
    expect(readdirSync(stateDir(rootfsDir(root)))).not.toContain(PRUNE_LOCK);
  });

  it("removes by age and size, entries with their stamps, and leaves no lock behind", async () => {
    const e = plantCache();
    const layers = entryDirs(root)[3].dir;
    touchStamp(layers, hex("8")); // the stamp of an entry removed by other means
    const r = await pruneCache(root, { olderThanMs: 7 * DAY, maxBytes: 1000 });
    expect(r.removed.map((x) => [x.path, x.reason])).toEqual([
      [e.leftover, "leftover"],
      [e.oldImage, "age"],
      [e.oldRootfs, "age"],
      [e.model, "size"],
    ]);
    expect(r.keptBytes).toBe(700);
    expect(existsSync(e.layer)).toBe(true);
    for (const p of [e.oldImage, e.oldRootfs, e.model, e.leftover]) expect(existsSync(p)).toBe(false);
    expect(readdirSync(rootfsDir(root))).toEqual([]);
    expect(readdirSync(join(modelsDir(root), "sha256"))).toEqual([]);
    expect(readdirSync(layers)).toEqual([hex("3")]);
    const state = (d: string) => (existsSync(stateDir(d)) ? readdirSync(stateDir(d)) : []);
    for (const d of entryDirs(root)) expect(state(d.dir), d.dir).toEqual(d.dir === layers ? [stampName(hex("3"))] : []); // stamps and locks gone
  });

  it("keeps what a running process leases, or a run directory mounts; a dead owner's lease counts for nothing", async () => {
    const e = plantCache();
    const [images] = entryDirs(root).map((d) => d.dir);
    await useEntry(rootfsDir(root), hex("1")); // this process uses it from now on
    touchStamp(rootfsDir(root), hex("1"), new Date(Date.now() - 30 * DAY));
    mkdirSync(stateDir(images), { recursive: true });
    writeFileSync(join(stateDir(images), `${hex("1")}.use-${spawnSync(process.execPath, ["-e", "0"]).pid}-1`), "");
    mkdirSync(join(runsDir(root), "rp-x-1-0badc0de"), { recursive: true });
    writeFileSync(
      join(runsDir(root), "rp-x-1-0badc0de", "config.json"),
      JSON.stringify({ mounts: [{ source: join(e.model, "model"), destination: "/m" }] }),
    );
    const r = await pruneCache(root, { maxBytes: 0 });
    expect(r.removed.map((x) => x.path).sort()).toEqual([e.leftover, e.oldImage, e.layer].sort());
    expect(r.inUse.map((x) => [x.path, x.pids]).sort()).toEqual([
      [e.model, undefined],
      [e.oldRootfs, [process.pid]],
    ]);
    expect(existsSync(e.oldRootfs) && existsSync(e.model)).toBe(true);
  });

  it("reads a run directory's mounts.json, never opens runc's config.json FIFO (it would wait for a writer)", async () => {
    const e = plantCache();
    const run = join(runsDir(root), "rp-x-1-0badc0de");
    mkdirSync(run, { recursive: true });
    expect(spawnSync("mkfifo", ["-m", "600", join(run, "config.json")]).status).toBe(0);
    writeFileSync(
      join(run, "mounts.json"),
      JSON.stringify({ mounts: [{ source: join(e.model, "model"), destination: "/m" }] }),
    );
    const r = await pruneCache(root, { maxBytes: 0 });
    expect(r.inUse.map((x) => x.path)).toContain(e.model);
    expect(existsSync(e.model)).toBe(true);
  });

  it("a use waits while a prune holds the directory, then goes on", async () => {
    const dir = rootfsDir(root);
    mkdirSync(dir, { recursive: true });
    const release = await lockForPrune(dir);
    // The lock is this process's own: a use from here does not wait. Pretend it is another live process's.
    writeFileSync(join(stateDir(dir), PRUNE_LOCK), `${process.ppid} 0\n`);
    let used = false;
    const use = useEntry(dir, hex("9"), { waitMs: 5000 }).then(() => (used = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(used).toBe(false);
    expect(existsSync(join(stateDir(dir), stampName(hex("9"))))).toBe(true); // the lease and stamp come first
    expect(readdirSync(dir)).toEqual([]); // all beside the directory, none in it
    release();
    await use;
    expect(used).toBe(true);
    // A lock whose owner is gone is broken at once.
    writeFileSync(join(stateDir(dir), PRUNE_LOCK), `${spawnSync(process.execPath, ["-e", "0"]).pid} 1\n`);
    await useEntry(dir, hex("9"), { waitMs: 1000 });
    expect(existsSync(join(stateDir(dir), PRUNE_LOCK))).toBe(false);
  });
});

describe("cacheUsage", () => {
  it("sums each kind, counts temporary entries apart, and a hard link once", () => {
    const root = mkdtempSync(join(tmpdir(), "cache-du-"));
    try {
      const [images, rootfs] = entryDirs(root).map((d) => d.dir);
      mkdirSync(join(images, hex("1")), { recursive: true });
      writeFileSync(join(images, hex("1"), "blob"), Buffer.alloc(1000));
      mkdirSync(join(rootfs, hex("1")), { recursive: true });
      linkSync(join(images, hex("1"), "blob"), join(rootfs, hex("1"), "same-blob"));
      writeFileSync(join(rootfs, hex("1"), "own"), Buffer.alloc(10));
      mkdirSync(join(rootfs, `.${hex("2")}.tmp-${spawnSync(process.execPath, ["-e", "0"]).pid}-1-0badc0de`));
      writeFileSync(join(rootfs, `.${hex("2")}.tmp-${process.pid}-1-0badc0de`), Buffer.alloc(20));
      mkdirSync(join(root, "podman", "root"), { recursive: true });
      writeFileSync(join(root, "podman", "root", "x"), Buffer.alloc(5));
      const u = cacheUsage(root);
      expect(u.kinds.images).toEqual({ bytes: 1000, entries: 1 });
      expect(u.kinds.rootfs).toEqual({ bytes: 10, entries: 1 });
      expect(u.kinds.podman).toEqual({ bytes: 5 });
      expect(u.kinds.temp).toEqual({ bytes: 20, entries: 2, stale: 2 }); // pid right, start time wrong: stale too
      expect(u.total).toBe(1035);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
