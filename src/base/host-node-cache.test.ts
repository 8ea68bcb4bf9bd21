/**
 * The host-node base cache (host-node-cache.ts): a hit is the layout a build of the same inputs writes, byte for byte
 * (the differential check of a cache), a change of anything the layout holds is a new entry, and a damaged entry is
 * built again. A copy of /usr/bin/true stands in for node (an ELF binary with shared libraries, quick to gzip).
 */
import { createHash } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostNodeInputs } from "./host-node";
import { cachedHostNodeBase, hostNodeKey, writeHostNodeBase } from "./host-node-cache";

const root = mkdtempSync(join(tmpdir(), "host-node-cache-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const node = join(root, "node");
copyFileSync("/usr/bin/true", node);
chmodSync(node, 0o755);
const bases = join(root, "bases");

/** Every file of a layout with the sha256 of its bytes. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!name.isFile()) continue;
    const path = join(name.parentPath, name.name);
    out[path.slice(dir.length)] = createHash("sha256").update(readFileSync(path)).digest("hex");
  }
  return out;
}

describe("the host-node base cache", () => {
  it("a miss, a hit and a build without the cache write the same layout", async () => {
    const first = await writeHostNodeBase(join(root, "a"), bases, { nodePath: node, mtime: 0 });
    expect(readdirSync(bases)).toEqual([expect.stringMatching(/^host-node-[a-f0-9]{64}$/)]);
    const hit = await cachedHostNodeBase(bases, { nodePath: node, mtime: 0 });
    expect(hit.hit).toBe(true);
    const second = await writeHostNodeBase(join(root, "b"), bases, { nodePath: node, mtime: 0 });
    const uncached = await writeHostNodeBase(join(root, "c"), undefined, { nodePath: node, mtime: 0 });
    expect(second.digest).toBe(first.digest);
    expect(uncached.digest).toBe(first.digest);
    expect(files(join(root, "b"))).toEqual(files(join(root, "a")));
    expect(files(join(root, "c"))).toEqual(files(join(root, "a")));
    // Copies, not links to the entry: the output is its owner's to change.
    expect(files(hit.dir)).toEqual(files(join(root, "a")));
  });

  it("new bytes of the node binary, or another mtime, are a new entry", async () => {
    const before = readdirSync(bases).length;
    const other = join(root, "node2");
    copyFileSync(node, other);
    appendFileSync(other, "trailing bytes the loader ignores");
    chmodSync(other, 0o755);
    const a = await writeHostNodeBase(join(root, "d"), bases, { nodePath: other, mtime: 0 });
    const b = await writeHostNodeBase(join(root, "e"), bases, { nodePath: node, mtime: 86_400 });
    expect(readdirSync(bases)).toHaveLength(before + 2);
    expect(
      new Set([
        a.digest,
        b.digest,
        (await writeHostNodeBase(join(root, "f"), undefined, { nodePath: node, mtime: 0 })).digest,
      ]).size,
    ).toBe(3);
  });

  it("the key follows every file's content and mode, every link's target and the inline files", async () => {
    const lib = join(root, "libfake.so");
    writeFileSync(lib, "one");
    chmodSync(lib, 0o644);
    const inputs = (): HostNodeInputs => ({
      platform: { os: "linux", architecture: "amd64" },
      nodeVersion: "v20.0.0",
      system: [
        { dest: "/lib/libfake.so", src: lib },
        { dest: "/lib64", symlink: "usr/lib64" },
        { dest: "/etc/passwd", content: Buffer.from("root:x:0:0::/root:/sbin/nologin\n") },
      ],
      node: [{ dest: "/usr/local/bin/node", src: node, mode: 0o755 }],
    });
    const base = await hostNodeKey(inputs(), 0);
    expect(await hostNodeKey(inputs(), 0)).toBe(base);
    const keys = new Set([base]);
    writeFileSync(lib, "two");
    keys.add(await hostNodeKey(inputs(), 0));
    chmodSync(lib, 0o755); // no mode given: the layer keeps the file's x bits, so they count
    keys.add(await hostNodeKey(inputs(), 0));
    const linked = inputs();
    linked.system[1] = { dest: "/lib64", symlink: "usr/lib" };
    keys.add(await hostNodeKey(linked, 0));
    const inline = inputs();
    inline.system[2] = { dest: "/etc/passwd", content: Buffer.from("root:x:0:0::/root:/bin/sh\n") };
    keys.add(await hostNodeKey(inline, 0));
    const moved = inputs();
    moved.node[0] = { ...moved.node[0], dest: "/usr/bin/node" };
    keys.add(await hostNodeKey(moved, 0));
    keys.add(await hostNodeKey({ ...inputs(), nodeVersion: "v20.0.1" }, 0));
    keys.add(await hostNodeKey(inputs(), 1));
    expect(keys.size).toBe(8);
  });

  it("a damaged entry is built again, and the output is right", async () => {
    const { dir } = await cachedHostNodeBase(bases, { nodePath: node, mtime: 0 });
    const blobs = join(dir, "blobs", "sha256");
    const biggest = readdirSync(blobs).sort(
      (x, y) => readFileSync(join(blobs, y)).length - readFileSync(join(blobs, x)).length,
    )[0];
    truncateSync(join(blobs, biggest), 10);
    const logged: string[] = [];
    const again = await writeHostNodeBase(join(root, "g"), bases, {
      nodePath: node,
      mtime: 0,
      log: (l) => logged.push(l),
    });
    expect(logged.join("\n")).toContain("failed its check");
    expect(files(join(root, "g"))).toEqual(files(join(root, "a")));
    expect(again.digest).toBe(
      (await writeHostNodeBase(join(root, "h"), undefined, { nodePath: node, mtime: 0 })).digest,
    );
    expect(readFileSync(join(blobs, biggest)).length).toBeGreaterThan(10);
  });
});
