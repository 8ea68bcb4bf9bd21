import { spawn } from "node:child_process";
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerAlive } from "../process/owner";
import { parseTempName } from "../process/temp";
import { AUTH_DIR_ENV, createAuthDir, sweepStaleAuthDirs } from "./auth-dirs";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "git-auth-dirs-unit-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A pid no process has: above the largest pid_max Linux allows (2^22). */
const DEAD_PID = 4194305;

function ownStart(): string {
  const stat = readFileSync("/proc/self/stat", "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("createAuthDir", () => {
  it("names the dir after this process and its start time (a temporary name of process/temp.ts), mode 0700", async () => {
    const base = mkdtempSync(join(root, "create-"));
    const dir = await createAuthDir(base);
    expect(basename(dir)).toMatch(new RegExp(`^\\.git-auth\\.tmp-${process.pid}-${ownStart()}-[0-9a-f]{8}$`));
    expect(parseTempName(basename(dir))).toEqual({
      for: "git-auth",
      owner: { pid: process.pid, start: Number(ownStart()) },
      scheme: "current",
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(ownerAlive(process.pid, Number(ownStart()))).toBe(true);
    expect(ownerAlive(process.pid, 1)).toBe(false); // same pid, another start time: another process
    expect(ownerAlive(DEAD_PID, 0)).toBe(false);
  });
});

describe("sweepStaleAuthDirs", () => {
  it("kills the processes working with a dead runner's dir (their group), scrubs its files and removes it", async () => {
    const base = mkdtempSync(join(root, "sweep-"));
    const stale = join(base, `.git-auth.tmp-${DEAD_PID}-123-0badc0de`);
    mkdirSync(stale, { mode: 0o700 });
    writeFileSync(join(stale, "credential"), "username=u\npassword=pw-unit\n", { mode: 0o600 });
    const kept = join(root, "kept-credential");
    linkSync(join(stale, "credential"), kept);
    // An orphaned "git": its own process group, the marker in its environment, a child of its own.
    const orphan = spawn("sh", ["-c", "sleep 60 & wait"], {
      detached: true,
      stdio: "ignore",
      env: { PATH: process.env.PATH, [AUTH_DIR_ENV]: stale },
    });
    const unrelated = spawn("sleep", ["60"], {
      stdio: "ignore",
      env: { PATH: process.env.PATH, [AUTH_DIR_ENV]: `${stale}-other` },
    });
    await new Promise((r) => setTimeout(r, 200));
    const reused = join(base, `.git-auth.tmp-${process.pid}-1-0badc0de`); // our pid, another start time
    mkdirSync(reused);
    const legacy = join(base, `git-auth-${DEAD_PID}-123-0badc0de`); // an earlier version's name
    mkdirSync(legacy);
    writeFileSync(join(legacy, "credential"), "password=pw-legacy\n", { mode: 0o600 });
    const legacyReused = join(base, `git-auth-${process.pid}-1-0badc0de`);
    mkdirSync(legacyReused);
    const mine = await createAuthDir(base);
    writeFileSync(join(base, "git-auth-not-ours"), "");
    mkdirSync(join(base, `.layout.tmp-${DEAD_PID}-123-0badc0de`)); // another writer's temporary entry: not git's

    const exited = new Promise((r) => orphan.on("exit", r));
    expect(sweepStaleAuthDirs(base).sort()).toEqual([reused, stale, legacy, legacyReused].sort());
    await exited;
    expect(running(orphan.pid!)).toBe(false);
    expect(running(unrelated.pid!)).toBe(true);
    unrelated.kill();
    expect(readFileSync(kept).every((b) => b === 0)).toBe(true);
    expect(readdirSync(base).sort()).toEqual(
      [basename(mine), "git-auth-not-ours", `.layout.tmp-${DEAD_PID}-123-0badc0de`].sort(),
    );
    rmSync(kept);
  });

  it("keeps a live owner's dir whatever its age, under either name", async () => {
    const base = mkdtempSync(join(root, "live-"));
    const mine = await createAuthDir(base);
    const legacyMine = join(base, `git-auth-${process.pid}-${ownStart()}-0badc0de`);
    mkdirSync(legacyMine);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
    for (const d of [mine, legacyMine]) utimesSync(d, twoDaysAgo, twoDaysAgo);
    expect(sweepStaleAuthDirs(base)).toEqual([]);
    expect(readdirSync(base).sort()).toEqual([basename(mine), basename(legacyMine)].sort());
  });

  it("with once, looks at a base only the first time", () => {
    const base = mkdtempSync(join(root, "once-"));
    expect(sweepStaleAuthDirs(base, { once: true })).toEqual([]);
    mkdirSync(join(base, `.git-auth.tmp-${DEAD_PID}-1-0badc0de`));
    expect(sweepStaleAuthDirs(base, { once: true })).toEqual([]);
    expect(sweepStaleAuthDirs(base)).toEqual([join(base, `.git-auth.tmp-${DEAD_PID}-1-0badc0de`)]);
  });
});
