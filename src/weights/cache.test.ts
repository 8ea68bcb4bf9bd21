import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "../oci/digest";
import { type CacheMarker, checkEntry, defaultModelCacheDir, listTree, MANIFEST_FILE, MARKER_FILE } from "./cache";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "model-cache-"));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe("defaultModelCacheDir", () => {
  it("is models/ under the cache root: $PIPELINE_CACHE_DIR, else XDG_CACHE_HOME when absolute, else ~/.cache", () => {
    expect(defaultModelCacheDir({ PIPELINE_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" })).toBe(
      "/c/models",
    );
    expect(defaultModelCacheDir({ XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" })).toBe(
      "/x/cache/rules_pipeline/models",
    );
    expect(defaultModelCacheDir({ XDG_CACHE_HOME: "relative", HOME: "/home/u" })).toBe(
      "/home/u/.cache/rules_pipeline/models",
    );
    expect(defaultModelCacheDir({ HOME: "/home/u" })).toBe("/home/u/.cache/rules_pipeline/models");
  });
});

describe("checkEntry", () => {
  const manifest = Buffer.from('{"m":1}');
  const digest = sha256(manifest);

  async function makeEntry(): Promise<string> {
    const entry = join(tmp, "entry");
    const model = join(entry, "model");
    mkdirSync(join(model, "d"), { recursive: true });
    writeFileSync(join(model, "d", "a.txt"), "hello");
    writeFileSync(join(model, "w.bin"), Buffer.alloc(64, 1));
    symlinkSync("d/a.txt", join(model, "l"));
    writeFileSync(join(entry, MANIFEST_FILE), manifest);
    const marker: CacheMarker = {
      version: 1,
      digest,
      entries: await listTree(model, { hash: true, known: new Map([["w.bin", sha256(Buffer.alloc(64, 1))]]) }),
    };
    writeFileSync(join(entry, MARKER_FILE), JSON.stringify(marker));
    return entry;
  }

  it("trusts a whole entry", async () => {
    const entry = await makeEntry();
    expect(await checkEntry(entry, digest, false)).toBeUndefined();
    expect(await checkEntry(entry, digest, true)).toBeUndefined();
  });

  it("notices a missing marker, another digest, a changed manifest", async () => {
    const entry = await makeEntry();
    expect(await checkEntry(entry, sha256("other"), false)).toContain("does not describe");
    writeFileSync(join(entry, MANIFEST_FILE), "{}");
    expect(await checkEntry(entry, digest, false)).toContain("manifest.json does not have digest");
    rmSync(join(entry, MARKER_FILE));
    expect(await checkEntry(entry, digest, false)).toContain("no readable complete.json (ENOENT)");
  });

  it.each([
    ["a truncated file", (m: string) => truncateSync(join(m, "w.bin"), 10), "w.bin has 10 bytes, was 64"],
    ["a removed file", (m: string) => rmSync(join(m, "d", "a.txt")), "d/a.txt is missing"],
    ["an added file", (m: string) => writeFileSync(join(m, "new"), ""), "new was added"],
    ["a changed mode", (m: string) => chmodSync(join(m, "d", "a.txt"), 0o600), "d/a.txt has mode 600"],
    [
      "a retargeted link",
      (m: string) => (rmSync(join(m, "l")), symlinkSync("w.bin", join(m, "l"))),
      'l links to "w.bin"',
    ],
  ])("notices %s", async (_what, damage, why) => {
    const entry = await makeEntry();
    damage(join(entry, "model"));
    expect(await checkEntry(entry, digest, false)).toContain(why);
  });

  it("notices same-size content changes only when asked to hash", async () => {
    const entry = await makeEntry();
    writeFileSync(join(entry, "model", "w.bin"), Buffer.alloc(64, 2));
    chmodSync(join(entry, "model", "w.bin"), 0o644);
    expect(await checkEntry(entry, digest, false)).toBeUndefined();
    expect(await checkEntry(entry, digest, true)).toContain("w.bin has content");
  });
});
