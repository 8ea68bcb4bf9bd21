import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrubFileSync } from "../process/scrub";
import { reapStaleRunDirs, scrubRunDirSync } from "./cleanup";

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
