import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectModel } from "./collect";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), "model-collect-"));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe("links judged as the kernel resolves them (src/layer/kept-link.ts)", () => {
  it("a link whose chain climbs out through another link is not stored as a link; its target file is read", () => {
    const m = join(tmp, "m");
    mkdirSync(join(m, "sub", "c"), { recursive: true });
    mkdirSync(join(m, "z"));
    writeFileSync(join(tmp, "outside.txt"), "outside");
    symlinkSync("../../z", join(m, "sub", "c", "a"));
    // One hop at a time x is sub/outside.txt, inside; the kernel: sub/c/a is z, then ../.. is above the model.
    symlinkSync("sub/c/a/../../outside.txt", join(m, "x"));
    const c = collectModel(m);
    expect(c.tree.find((e) => e.path === "sub/c/a")).toEqual({ path: "sub/c/a", type: "symlink", linkname: "../../z" });
    expect(c.tree.find((e) => e.path === "x")).toEqual({ path: "x", type: "file", source: join(m, "x"), size: 7 });
  });
});

describe("collectModel", () => {
  it("puts big non-executable files in their own layers and everything else in the tree, sorted", () => {
    const m = join(tmp, "m");
    mkdirSync(join(m, "sub", "empty"), { recursive: true });
    writeFileSync(join(m, "b.bin"), Buffer.alloc(100));
    writeFileSync(join(m, "a.txt"), "small");
    writeFileSync(join(m, "sub", "big.bin"), Buffer.alloc(100));
    writeFileSync(join(m, "run.sh"), Buffer.alloc(100), { mode: 0o755 });
    symlinkSync("sub/big.bin", join(m, "link"));
    const c = collectModel(m, 50);
    expect(c.bigFiles.map((f) => [f.path, f.size])).toEqual([
      ["b.bin", 100],
      ["sub/big.bin", 100],
    ]);
    expect(c.tree.map((e) => [e.path, e.type])).toEqual([
      ["a.txt", "file"],
      ["link", "symlink"],
      ["run.sh", "file"],
      ["sub", "dir"],
      ["sub/empty", "dir"],
    ]);
    expect(c.tree.find((e) => e.path === "link")?.linkname).toBe("sub/big.bin");
  });

  it("follows links that leave the directory to a regular file (Hugging Face snapshots)", () => {
    mkdirSync(join(tmp, "blobs"));
    writeFileSync(join(tmp, "blobs", "abc"), Buffer.alloc(10));
    mkdirSync(join(tmp, "snap"));
    symlinkSync("../blobs/abc", join(tmp, "snap", "weights.bin"));
    symlinkSync(join(tmp, "blobs", "abc"), join(tmp, "snap", "abs.bin"));
    const c = collectModel(join(tmp, "snap"), 5);
    expect(c.bigFiles.map((f) => [f.path, f.size])).toEqual([
      ["abs.bin", 10],
      ["weights.bin", 10],
    ]);
    expect(c.tree).toEqual([]);
  });

  it("refuses links that leave the directory to a directory or nowhere, special files, and non-directories", () => {
    mkdirSync(join(tmp, "m"));
    symlinkSync(tmp, join(tmp, "m", "up"));
    expect(pipelineErrorOfSync(() => collectModel(join(tmp, "m"))).message).toMatch(
      /symlink "up" -> .* not a regular file/,
    );
    rmSync(join(tmp, "m", "up"));
    symlinkSync("../nothing", join(tmp, "m", "dangling"));
    expect(pipelineErrorOfSync(() => collectModel(join(tmp, "m"))).message).toContain("dangling");
    rmSync(join(tmp, "m", "dangling"));
    execFileSync("mkfifo", [join(tmp, "m", "fifo")]);
    const e = pipelineErrorOfSync(() => collectModel(join(tmp, "m")));
    expect(e.code).toBe("E_MODEL_INPUT");
    expect(e.message).toContain('"fifo" is not a regular file');
    writeFileSync(join(tmp, "file"), "x");
    expect(pipelineErrorOfSync(() => collectModel(join(tmp, "file"))).message).toContain("is not a directory");
    expect(pipelineErrorOfSync(() => collectModel(join(tmp, "absent"))).message).toContain("ENOENT");
  });
});
