import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { rawTar } from "../../test/corpus/raw-tar";
import { FileIndex } from "./file-index";

async function indexOf(...layers: Parameters<typeof rawTar>[0][]): Promise<FileIndex> {
  const index = new FileIndex({ capture: ["etc/passwd"], wantHead: (p) => p.endsWith("bin/node"), headBytes: 4 });
  for (const [i, l] of layers.entries()) await index.addLayer(Readable.from([rawTar(l)]), `layer ${i + 1}`);
  return index;
}

describe("FileIndex", () => {
  it("creates missing parents, keeps captured content and heads", async () => {
    const idx = await indexOf([
      { name: "etc/passwd", data: "root:x:0:0::/root:/bin/sh\n" },
      { name: "usr/bin/node", data: "\x7fELF rest", mode: 0o755 },
    ]);
    expect(idx.get("/etc")).toMatchObject({ type: "dir", implicit: true });
    expect(idx.get("etc/passwd")?.content?.toString()).toBe("root:x:0:0::/root:/bin/sh\n");
    expect(idx.get("usr/bin/node")?.head?.toString("latin1")).toBe("\x7fELF");
  });

  it("resolves symlinks inside the image: absolute targets from the root, '..' stops at the root, loops end", async () => {
    const idx = await indexOf([
      { name: "opt/real/node", data: "x", mode: 0o755 },
      { name: "usr/lib", type: "2", linkname: "/opt" },
      { name: "bin/node", type: "2", linkname: "../usr/lib/real/node" },
      { name: "loop/a", type: "2", linkname: "b" },
      { name: "loop/b", type: "2", linkname: "a" },
      { name: "file", data: "y" },
    ]);
    const r = idx.resolve("/../../bin/node");
    expect(r).toMatchObject({
      ok: true,
      path: "/opt/real/node",
      via: ["/bin/node -> ../usr/lib/real/node", "/usr/lib -> /opt"],
    });
    expect(idx.resolve("/loop/a")).toMatchObject({ ok: false, reason: "loop" });
    expect(idx.resolve("/file/x")).toMatchObject({ ok: false, reason: "not-dir", at: "/file" });
    expect(idx.resolve("/bin/node", true)).toMatchObject({ ok: true, path: "/bin/node", entry: { type: "symlink" } });
  });

  it("a file replacing a directory hides what was under it; a directory over a directory merges", async () => {
    const idx = await indexOf(
      [
        { name: "a/x", data: "1" },
        { name: "b/y", data: "2" },
      ],
      [
        { name: "a", data: "now a file" },
        { name: "b/", type: "5", mode: 0o700 },
        { name: "b/z", data: "3" },
      ],
    );
    expect(idx.get("a")?.type).toBe("file");
    expect(idx.get("a/x")).toBeUndefined();
    expect(idx.get("b")?.mode).toBe(0o700);
    expect(idx.get("b/y")).toBeDefined();
    expect(idx.get("b/z")).toBeDefined();
  });

  it("applies entries as the unpacker does: through in-image symlinks, and refusing what it refuses (src/layer/safety.ts)", async () => {
    const idx = await indexOf(
      [
        { name: "usr/bin/", type: "5" },
        { name: "bin", type: "2", linkname: "usr/bin" },
      ],
      [{ name: "bin/node", data: "\x7fELF", mode: 0o755 }],
    );
    expect(idx.get("usr/bin/node")?.head?.toString("latin1")).toBe("\x7fELF");
    expect(idx.get("bin")?.type).toBe("symlink");
    await expect(indexOf([{ name: "a/.wh..." }])).rejects.toThrow(
      'layer 1: entry "a/.wh...": whiteout of ".." is not allowed',
    );
    await expect(
      indexOf([
        { name: "r", type: "2", linkname: "/" },
        { name: "r/a/l", type: "2", linkname: "../../etc" },
      ]),
    ).rejects.toThrow('layer 1: entry "r/a/l": symlink to "../../etc" leads outside the root');
  });
});
