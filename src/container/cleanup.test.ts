import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrubFileSync } from "../process/scrub";
import { selfOwner } from "../process/owner";
import { containerName, nameOwner, ownerGone, reapStaleRunDirs, scrubRunDirSync } from "./cleanup";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "rp-cleanup-unit-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A pid no process has: above the largest pid_max Linux allows (2^22). */
const deadPid = () => 4194305;

describe("scrubFileSync", () => {
  it("overwrites the file's bytes with zeros in place (another name for it sees zeros), keeping its size", () => {
    const f = join(root, "config.json");
    writeFileSync(f, "X=value-that-must-go".repeat(100_000)); // larger than one 1 MiB write
    const other = join(root, "config-link.json");
    linkSync(f, other);
    scrubFileSync(f);
    const left = readFileSync(other);
    expect(left.length).toBe(2_000_000);
    expect(left.every((b) => b === 0)).toBe(true);
  });
  it("does not follow a symlink, and ignores a missing file", () => {
    const target = join(root, "target.txt");
    writeFileSync(target, "not ours to scrub");
    const link = join(root, "env");
    symlinkSync(target, link);
    scrubFileSync(link);
    scrubFileSync(join(root, "absent"));
    expect(readFileSync(target, "utf8")).toBe("not ours to scrub");
  });
});

describe("reapStaleRunDirs", () => {
  it("scrubs a dead runner's config.json and env file before removing its run directory", async () => {
    const runs = join(root, "runs");
    const dir = join(runs, `rp-x-${deadPid()}-0badc0de`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), '{"env":["X=s3cret"]}');
    writeFileSync(join(dir, "env"), "HTTPS_PROXY=s3cret\n");
    const links = ["config.json", "env"].map((n) => {
      const l = join(root, `kept-${n}`);
      linkSync(join(dir, n), l);
      return l;
    });
    expect(await reapStaleRunDirs(runs)).toEqual([`rp-x-${deadPid()}-0badc0de`]);
    for (const l of links) expect(readFileSync(l).every((b) => b === 0)).toBe(true);
    scrubRunDirSync(dir); // already gone: no error
  });
});

describe("container names carry their owner (pid + start time)", () => {
  it("names this process with its pid and start time, and reads them back", () => {
    const { pid, start } = selfOwner();
    const name = containerName("job");
    expect(name).toMatch(new RegExp(`^rp-job-${pid}-${start}-[0-9a-f]{8}$`));
    expect(nameOwner(name)).toEqual({ pid, start });
    expect(nameOwner(`${name}-2`)).toEqual({ pid, start }); // a replica
    expect(ownerGone(name)).toBe(false);
  });

  it("treats a reused pid (alive, another start time) as dead, and an earlier runner's name by its pid alone", () => {
    const { pid, start } = selfOwner();
    expect(start).toBeGreaterThan(0); // Linux: /proc gives the start time, else the test proves nothing
    expect(ownerGone(`rp-job-${pid}-${start + 1}-0badc0de`)).toBe(true);
    expect(ownerGone(`rp-job-${pid}-${start + 1}-0badc0de-1`)).toBe(true);
    expect(ownerGone(`rp-job-${deadPid()}-${start}-0badc0de`)).toBe(true);
    expect(nameOwner(`rp-job-${pid}-0badc0de`)).toEqual({ pid });
    expect(ownerGone(`rp-job-${pid}-0badc0de`)).toBe(false);
    expect(ownerGone("someone-elses")).toBe(false);
  });

  it("reaps a run directory whose pid was reused by a process started at another time", async () => {
    const { pid, start } = selfOwner();
    const runs = join(root, "runs-reused");
    const reused = `rp-x-${pid}-${start + 1}-0badc0de`;
    const live = `rp-x-${pid}-${start}-0badc0de`;
    for (const n of [reused, live]) mkdirSync(join(runs, n), { recursive: true });
    expect(await reapStaleRunDirs(runs)).toEqual([reused]);
  });
});
