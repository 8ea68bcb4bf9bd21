import { spawn } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerAlive } from "../process/owner";
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
  it("names the dir after this process and its start time, mode 0700", async () => {
    const base = mkdtempSync(join(root, "create-"));
    const dir = await createAuthDir(base);
    expect(basename(dir)).toMatch(new RegExp(`^git-auth-${process.pid}-${ownStart()}-[0-9a-f]{8}$`));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(ownerAlive(process.pid, Number(ownStart()))).toBe(true);
    expect(ownerAlive(process.pid, 1)).toBe(false); // same pid, another start time: another process
    expect(ownerAlive(DEAD_PID, 0)).toBe(false);
  });
});

describe("sweepStaleAuthDirs", () => {
  it("kills the processes working with a dead runner's dir (their group), scrubs its files and removes it", async () => {
    const base = mkdtempSync(join(root, "sweep-"));
    const stale = join(base, `git-auth-${DEAD_PID}-123-0badc0de`);
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
    const unrelated = spawn("sleep", ["60"], { stdio: "ignore", env: { PATH: process.env.PATH, [AUTH_DIR_ENV]: `${stale}-other` } });
    await new Promise((r) => setTimeout(r, 200));
    const reused = join(base, `git-auth-${process.pid}-1-0badc0de`); // our pid, another start time
    mkdirSync(reused);
    const mine = await createAuthDir(base);
    writeFileSync(join(base, "git-auth-not-ours"), "");

    const exited = new Promise((r) => orphan.on("exit", r));
    expect(sweepStaleAuthDirs(base).sort()).toEqual([reused, stale].sort());
    await exited;
    expect(running(orphan.pid!)).toBe(false);
    expect(running(unrelated.pid!)).toBe(true);
    unrelated.kill();
    expect(readFileSync(kept).every((b) => b === 0)).toBe(true);
    expect(readdirSync(base).sort()).toEqual([basename(mine), "git-auth-not-ours"].sort());
    rmSync(kept);
  });

  it("with once, looks at a base only the first time", () => {
    const base = mkdtempSync(join(root, "once-"));
    expect(sweepStaleAuthDirs(base, { once: true })).toEqual([]);
    mkdirSync(join(base, `git-auth-${DEAD_PID}-1-0badc0de`));
    expect(sweepStaleAuthDirs(base, { once: true })).toEqual([]);
    expect(sweepStaleAuthDirs(base)).toEqual([join(base, `git-auth-${DEAD_PID}-1-0badc0de`)]);
  });
});
