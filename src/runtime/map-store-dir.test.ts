/** The directory store (map-store-dir.ts): keys stay under the root, writes are whole or absent, reads are bounded. */
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DirStore } from "./map-store-dir";

const root = mkdtempSync(join(tmpdir(), "rp-dirstore-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("DirStore", () => {
  const store = new DirStore(join(root, "s"));

  it("puts, has and gets; a missing key is undefined; no temporary file is left", async () => {
    await store.check();
    expect(await store.has("blobs/sha256/ab")).toBe(false);
    expect(await store.get("blobs/sha256/ab", 10)).toBeUndefined();
    await store.put("blobs/sha256/ab", Buffer.from("hello"));
    expect(await store.has("blobs/sha256/ab")).toBe(true);
    expect((await store.get("blobs/sha256/ab", 10))?.toString()).toBe("hello");
    expect(readdirSync(join(root, "s", "blobs", "sha256"))).toEqual(["ab"]);
  });

  it("refuses keys that would leave the root or name no file, naming the key", async () => {
    for (const key of ["../x", "a/../../x", "/abs", "a//b", "a/.", "", ".hidden/x"])
      await expect(store.put(key, Buffer.from("x")), key).rejects.toMatchObject({ code: "E_MAP_STORE" });
    expect(readdirSync(root)).toEqual(["s"]);
  });

  it("reads at most the bound (E_MAP_STORE_TOO_LARGE) and never through a symlink", async () => {
    await store.put("big", Buffer.alloc(100));
    await expect(store.get("big", 99)).rejects.toMatchObject({ code: "E_MAP_STORE_TOO_LARGE" });
    writeFileSync(join(root, "outside"), "secret");
    symlinkSync(join(root, "outside"), join(root, "s", "link"));
    await expect(store.get("link", 100)).rejects.toMatchObject({ code: "E_MAP_STORE" });
  });

  it("lists a directory's files (not its symlinks, subdirectories or half-written files), or says there are more", async () => {
    expect(await store.list("results/", 10)).toEqual([]);
    for (const k of ["a", "b", "c"]) await store.put(`results/${k}`, Buffer.from(k));
    writeFileSync(join(root, "s", "results", "d.tmp-1-ab"), "half");
    symlinkSync(join(root, "outside"), join(root, "s", "results", "e"));
    await store.put("results/sub/f", Buffer.from("f"));
    expect((await store.list("results/", 3))?.sort()).toEqual(["results/a", "results/b", "results/c"]);
    expect(await store.list("results/", 2)).toBeUndefined();
  });

  it("a relative root is refused", () => {
    expect(() => new DirStore("rel/dir")).toThrow(/must be absolute/);
  });
});
