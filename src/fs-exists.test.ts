import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { entryExists, targetExists } from "./fs-exists";

const dir = mkdtempSync(join(tmpdir(), "fs-exists-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("targetExists / entryExists", () => {
  writeFileSync(join(dir, "file"), "x");
  symlinkSync("file", join(dir, "link"));
  symlinkSync("absent", join(dir, "dangling"));

  it.each([
    ["file", true, true],
    ["link", true, true],
    ["dangling", false, true],
    ["absent", false, false],
    ["file/below", false, false],
  ])("%s: target %s, entry %s", async (name, target, entry) => {
    expect(await targetExists(join(dir, name))).toBe(target);
    expect(await entryExists(join(dir, name))).toBe(entry);
  });
});
