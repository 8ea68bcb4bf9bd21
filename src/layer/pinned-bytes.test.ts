/**
 * Pinned bytes: the digests of a layer built from a fixed tree, as every user's images have them. Changing how a
 * layer is written (the tar headers, the order, the gzip level or block size, a detail of either) changes every layer
 * digest users have, and every other test compares our output with itself or with a peer's reading of it, so only
 * this file notices (the mutation check of issue #39 found a block-size and a level change surviving every test).
 * A deliberate change updates these values and says so in CHANGELOG.md in the same commit. The deflate bytes are
 * Node's zlib's: a Node whose zlib deflates differently fails here too, and would change users' digests the same way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildLayer, type LayerInput } from "./build";

const root = mkdtempSync(join(tmpdir(), "rp-pinned-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Text from a fixed seed (a linear congruential generator): the same bytes on every machine, ~1.3 MB. */
function text(seed: number, bytes: number): Buffer {
  const words = ["layer", "image", "pipeline", "digest", "manifest", "blob", "index", "config", "tar", "gzip", "node"];
  let x = seed;
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const w = `${words[x % words.length]}${x % 7 === 0 ? `${x % 1000}\n` : " "}`;
    out.push(w);
    n += w.length;
  }
  return Buffer.from(out.join("").slice(0, bytes));
}

/** Files, an executable, a directory with a sticky mode, a symlink, a name over 100 bytes and a non-ASCII one, owners. */
const TREE: LayerInput[] = [
  { dest: "app/main.js", content: Buffer.from('console.log("hello");\n') },
  { dest: "app/bin/run", content: Buffer.from("#!/bin/sh\nexec node /app/main.js\n"), mode: 0o755 },
  { dest: "app/data/big.txt", content: text(42, 1_300_000) },
  { dest: `app/${"deep/".repeat(22)}long-name.js`, content: Buffer.from("module.exports = 1;\n") },
  { dest: "app/ünïcödé.json", content: Buffer.from('{"a":1}\n') },
  { dest: "app/link", symlink: "main.js" },
  { dest: "tmp", dir: true, mode: 0o1777 },
  { dest: "home/user/.profile", content: Buffer.from("export X=1\n"), uid: 1000, gid: 1000 },
];

describe("pinned layer bytes", () => {
  it("a fixed tree gives the same layer digest, diffId and size (gzip level 6, mtime 0)", async () => {
    const desc = await buildLayer(TREE, join(root, "layer.tar.gz"), { mtime: 0 });
    expect({ digest: desc.digest, diffId: desc.diffId, size: desc.size }).toEqual(PINNED);
  });
});

const PINNED = {
  digest: "sha256:5cd79864c7ce5445263da51393f8a850dc89210dc0efec0c96d197018ffec545",
  diffId: "sha256:5cc6510388cb685330c15bc19f58f3bc67269ca8ee9a4052bf9e9a7f1257bf27",
  size: 233157,
};
