import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { leaseName, stateDir } from "./names";
import { LEGACY_MAX_AGE_MS, listTemps, parseTempName, tempName, tempPath } from "../process/temp";
import { ownerAlive, processStart, selfOwner } from "../process/owner";
import { sweepTemps } from "./sweep";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "cache-sweep-"));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** The pid of a process that has ended. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid;
}

function plant(name: string, ageMs = 0): string {
  const p = join(tmp, name);
  mkdirSync(join(p, "sub"), { recursive: true });
  writeFileSync(join(p, "sub", "f"), "x".repeat(100));
  const t = new Date(Date.now() - ageMs);
  utimesSync(p, t, t);
  return p;
}

describe("owners", () => {
  it("tells this process from a reused pid and from an ended one", () => {
    const me = selfOwner();
    expect(me.pid).toBe(process.pid);
    expect(me.start).toBe(processStart(process.pid));
    expect(me.start).toBeGreaterThan(0);
    expect(ownerAlive(me.pid, me.start)).toBe(true);
    expect(ownerAlive(me.pid, me.start + 1)).toBe(false);
    expect(ownerAlive(process.ppid, processStart(process.ppid))).toBe(true);
    expect(ownerAlive(process.ppid, (processStart(process.ppid) ?? 0) + 1)).toBe(false);
    expect(ownerAlive(deadPid())).toBe(false);
    expect(ownerAlive(0)).toBe(false);
  });
});

describe("temporary names", () => {
  it("name the final entry and the owner, and are parsed back", () => {
    const me = selfOwner();
    const n = tempName("abc");
    expect(n).toMatch(new RegExp(`^\\.abc\\.tmp-${me.pid}-${me.start}-[0-9a-f]{8}$`));
    expect(parseTempName(n)).toEqual({ for: "abc", owner: { pid: me.pid, start: me.start }, scheme: "current" });
    expect(tempPath("/x/y/out.d")).toMatch(/^\/x\/y\/\.out\.d\.tmp-\d+-\d+-[0-9a-f]{8}$/);
    expect(tempName("abc")).not.toBe(n);
  });

  it("recognises the names of earlier versions", () => {
    expect(parseTempName(".out.tmp-123-1700000000000")).toEqual({ for: "out", owner: { pid: 123 }, scheme: "legacy" });
    expect(parseTempName(".tmp-123-0badc0de")).toEqual({ for: "", owner: { pid: 123 }, scheme: "legacy" });
    expect(parseTempName(`${"a".repeat(64)}.tmp-77-k3j4h5g6`)).toEqual({
      for: "a".repeat(64),
      owner: { pid: 77 },
      scheme: "legacy",
    });
    expect(parseTempName(".m.old-9-1700000000000")).toEqual({ for: "m", owner: { pid: 9 }, scheme: "legacy" });
    expect(parseTempName(".host-node-x.work-9-abc")).toEqual({
      for: "host-node-x",
      owner: { pid: 9 },
      scheme: "legacy",
    });
    expect(parseTempName("abc.tmp-AbC12z")).toEqual({ for: "abc", scheme: "legacy" });
    expect(parseTempName(".m.tmp-AbC12z")).toEqual({ for: "m", scheme: "legacy" });
    for (const n of ["a".repeat(64), "out", "prune.lock", `abc.use-1-2`, "abc.used", "tmp-1-2", ".cache-state"])
      expect(parseTempName(n)).toBeUndefined();
  });
});

describe("sweepTemps", () => {
  it("removes what ended owners left, keeps what live ones write, and leaves other names alone", async () => {
    const me = selfOwner();
    const dead = deadPid();
    const live = plant(tempName("e1"));
    const reused = plant(`.e1.tmp-${me.pid}-${me.start + 1}-0badc0de`); // this pid, another start: a reused pid
    const gone = plant(`.e2.tmp-${dead}-${me.start}-0badc0de`);
    const legacyDead = plant(`.e3.tmp-${dead}-1700000000000`);
    const legacyLive = plant(`.e3.tmp-${me.pid}-1700000000000`);
    const legacyLiveOld = plant(`.e4.tmp-${me.pid}-1700000000000`, LEGACY_MAX_AGE_MS + 60_000); // pid may be reused
    const mkdtempNew = plant("e5.tmp-AbC123");
    const mkdtempOld = plant("e6.tmp-AbC123", LEGACY_MAX_AGE_MS + 60_000);
    const entry = plant("a".repeat(64), LEGACY_MAX_AGE_MS * 10);
    mkdirSync(stateDir(tmp), { recursive: true });
    writeFileSync(join(stateDir(tmp), leaseName("e1")), "");
    writeFileSync(join(stateDir(tmp), `e1.use-${dead}-5`), "");

    const dry = await sweepTemps(tmp, { dryRun: true, measure: true });
    expect(dry.map((e) => e.path).sort()).toEqual([reused, gone, legacyDead, legacyLiveOld, mkdtempOld].sort());
    expect(dry.every((e) => e.bytes === 100)).toBe(true);
    expect(readdirSync(tmp)).toHaveLength(9); // nothing removed
    expect(readdirSync(stateDir(tmp))).toHaveLength(2);

    const removed = await sweepTemps(tmp);
    expect(removed.map((e) => e.path).sort()).toEqual(dry.map((e) => e.path).sort());
    for (const p of [live, legacyLive, mkdtempNew, entry]) expect(existsSync(p), p).toBe(true);
    expect(readdirSync(stateDir(tmp))).toEqual([leaseName("e1")]); // the dead lease is gone
    expect(listTemps(tmp).every((e) => !e.stale)).toBe(true);
  });

  it("with `only`, touches nothing but the temporary siblings of that one name", async () => {
    const dead = deadPid();
    const mine = plant(`.out.tmp-${dead}-1-0badc0de`);
    const other = plant(`.other.tmp-${dead}-1-0badc0de`);
    const legacy = plant(`.out.tmp-${dead}-1700000000000`);
    await sweepTemps(tmp, { only: "out" });
    expect([existsSync(mine), existsSync(legacy), existsSync(other)]).toEqual([false, false, true]);
  });

  it("knows directory-specific names: owned by a pid, or ownerless", async () => {
    const dead = deadPid();
    const build = plant(`${dead}-1700000000000`);
    const running = plant(`${process.pid}-1700000000000`);
    const npmOld = plant("npm-AbC123", LEGACY_MAX_AGE_MS + 60_000);
    const npmNew = plant("npm-XyZ789");
    await sweepTemps(tmp, { owned: /^(\d+)-\d+$/, ownerless: /^npm-[A-Za-z0-9]{6}$/ });
    expect([existsSync(build), existsSync(running), existsSync(npmOld), existsSync(npmNew)]).toEqual([
      false,
      true,
      false,
      true,
    ]);
  });

  it("removes read-only trees (as unpacked images have)", async () => {
    const p = plant(`.ro.tmp-${deadPid()}-1-0badc0de`);
    chmodSync(join(p, "sub"), 0o500);
    chmodSync(p, 0o500);
    await sweepTemps(tmp);
    expect(existsSync(p)).toBe(false);
  });
});
