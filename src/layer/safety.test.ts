/**
 * One safety judgement for the unpacker and verify-image (issue #9, defect 9): every layer stack here goes through
 * BOTH unpackLayers (as the runner calls it: devices skipped) and verify-image's indexImage, and they must agree:
 * the same error code and the same words about the same entry when refused, the same tree when accepted.
 *
 * Cases: every HOSTILE_LAYERS entry of test/corpus/raw-tar.ts (34), and 14 layer stacks (usrmerge links written
 * through, hard links and whiteouts through in-image symlinks, entry order inside a layer, relative links judged
 * where they really are, late symlinks over directories, devices and FIFOs left out, cross-layer climbing links).
 * Plus the pieces on their own: planEntry's whiteout names, walk's ".." at the root.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { CANARY_MTIME, gz, HOSTILE_LAYERS, rawTar, type RawEntry } from "../../test/corpus/raw-tar";
import { PipelineError } from "../errors";
import type { Image } from "../oci/model";
import { type Digest, sha256 } from "../oci/digest";
import { indexImage } from "../image-contract/verify-image";
import type { FileIndex } from "../image-contract/file-index";
import { NAME_MAX, planEntry, walk } from "./safety";
import { unpackLayers } from "./unpack";

const base = mkdtempSync(join(tmpdir(), "safety-test-"));
afterAll(() => {
  require("node:child_process").spawnSync("chmod", ["-R", "u+rwx", base]);
  rmSync(base, { recursive: true, force: true });
});
let seq = 0;

type Blob = { digest: Digest; diffId: Digest; open: () => Readable };
const blobOf = (bytes: Buffer, tar: Buffer): Blob => ({
  digest: sha256(bytes),
  diffId: sha256(tar),
  open: () => Readable.from([bytes]),
});

/** "path type[ -> target]" for every path under `root`, sorted; files and directories with their permission bits. */
function hostTree(root: string, rel = ""): string[] {
  return readdirSync(join(root, rel))
    .sort()
    .flatMap((n) => {
      const path = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(root, path));
      if (st.isSymbolicLink()) return [`${path} symlink -> ${readlinkSync(join(root, path))}`];
      if (st.isDirectory()) return [`${path} dir ${(st.mode & 0o777).toString(8)}`, ...hostTree(root, path)];
      return [`${path} file ${(st.mode & 0o777).toString(8)}`];
    });
}

function indexTree(index: FileIndex): string[] {
  return [...index.paths()]
    .filter((p) => p !== "")
    .sort()
    .map((p) => {
      const e = index.get(p)!;
      return e.type === "symlink" ? `${p} symlink -> ${e.linkname}` : `${p} ${e.type} ${(e.mode & 0o777).toString(8)}`;
    });
}

type Verdict = { ok: true; tree: string[] } | { ok: false; code: string; entry: string; message: string };

function verdictOf(e: unknown): Verdict {
  if (!(e instanceof PipelineError)) throw e;
  const i = e.message.indexOf("entry ");
  return { ok: false, code: e.code, entry: i < 0 ? "" : e.message.slice(i), message: e.message };
}

/** Unpacks as the runner does (src/container/image-cache.ts: devices skipped), and indexes as verify-image does. */
async function bothVerdicts(blobs: Blob[], canary?: string): Promise<{ unpacker: Verdict; index: Verdict }> {
  const d = join(base, `case-${++seq}`);
  mkdirSync(d);
  if (canary) {
    mkdirSync(join(d, canary), { recursive: true, mode: 0o755 });
    utimesSync(join(d, canary), CANARY_MTIME, CANARY_MTIME);
  }
  const root = join(d, "root");
  const unpacker = await unpackLayers(blobs, root, { devices: "skip" }).then(
    () => ({ ok: true as const, tree: hostTree(root) }),
    verdictOf,
  );
  const image = { layers: blobs } as unknown as Image;
  const index = await indexImage(image, "img").then((i) => ({ ok: true as const, tree: indexTree(i) }), verdictOf);
  if (canary) {
    const st = statSync(join(d, canary));
    expect({ mode: st.mode & 0o7777, mtime: st.mtimeMs / 1000 }).toEqual({ mode: 0o755, mtime: CANARY_MTIME });
  }
  return { unpacker, index };
}

function expectSame(v: { unpacker: Verdict; index: Verdict }): void {
  const strip = (x: Verdict) =>
    x.ok ? x : { ok: false, code: x.code, entry: x.code === "E_LAYER_UNSAFE" ? x.entry : "" };
  expect(strip(v.index), `unpacker: ${JSON.stringify(v.unpacker)}\nindex: ${JSON.stringify(v.index)}`).toEqual(
    strip(v.unpacker),
  );
}

describe("the unpacker and verify-image agree on the hostile corpus", () => {
  for (const h of HOSTILE_LAYERS) {
    it(h.name, async () => {
      const blob = h.compressed ? h.tar : gz(h.tar);
      const v = await bothVerdicts([blobOf(blob, h.tar)], h.canary);
      expectSame(v);
      // Devices are skipped by the runner, so they are no reason to refuse in either.
      if (/device/.test(h.name)) expect(v.unpacker.ok).toBe(true);
      else {
        expect(v.unpacker).toMatchObject({ ok: false, code: h.code });
        for (const m of h.mentions) expect((v.index as { message: string }).message).toContain(m);
      }
    });
  }
});

const L = (entries: RawEntry[]): Blob => {
  const tar = rawTar(entries);
  return blobOf(gz(tar), tar);
};

interface StackCase {
  name: string;
  layers: RawEntry[][];
  /** The tree both must give, or the entry (and words) both must refuse. */
  tree?: string[];
  refused?: string;
}

const STACKS: StackCase[] = [
  {
    name: "usrmerge: a file written through bin -> usr/bin lands in usr/bin",
    layers: [
      [
        { name: "usr/bin/", type: "5" },
        { name: "bin", type: "2", linkname: "usr/bin" },
      ],
      [{ name: "bin/tool", data: "t", mode: 0o755 }],
    ],
    tree: ["bin symlink -> usr/bin", "usr dir 755", "usr/bin dir 755", "usr/bin/tool file 755"],
  },
  {
    name: "a hard link through an in-image symlink",
    layers: [
      [
        { name: "real/f", data: "f" },
        { name: "d", type: "2", linkname: "/real" },
      ],
      [{ name: "h", type: "1", linkname: "d/f" }],
    ],
    tree: ["d symlink -> /real", "h file 644", "real dir 755", "real/f file 644"],
  },
  {
    name: "a whiteout and an opaque whiteout through a symlinked directory",
    layers: [
      [
        { name: "usr/lib/x", data: "x" },
        { name: "usr/share/y", data: "y" },
        { name: "lib", type: "2", linkname: "usr/lib" },
        { name: "share", type: "2", linkname: "/usr/share" },
      ],
      [{ name: "lib/.wh.x" }, { name: "share/.wh..wh..opq" }, { name: "share/z", data: "z" }],
    ],
    tree: [
      "lib symlink -> usr/lib",
      "share symlink -> /usr/share",
      "usr dir 755",
      "usr/lib dir 755",
      "usr/share dir 755",
      "usr/share/z file 644",
    ],
  },
  {
    name: "entry order inside a layer: a file after a directory's children replaces them",
    layers: [
      [
        { name: "a/x", data: "x" },
        { name: "a", data: "now a file" },
      ],
    ],
    tree: ["a file 644"],
  },
  {
    name: "a relative symlink judged where its directory really is (deeper than its archive path)",
    layers: [
      [
        { name: "usr/lib/", type: "5" },
        { name: "lib", type: "2", linkname: "usr/lib" },
        { name: "lib/etc", type: "2", linkname: "../../etc" },
      ],
    ],
    tree: ["lib symlink -> usr/lib", "usr dir 755", "usr/lib dir 755", "usr/lib/etc symlink -> ../../etc"],
  },
  {
    name: "a directory replaced by an absolute symlink: later entries through it land where it points, inside",
    layers: [
      [{ name: "a/sub/", type: "5", mode: 0o777 }],
      [
        { name: "a", type: "2", linkname: "/other" },
        { name: "a/new", data: "n" },
      ],
    ],
    tree: ["a symlink -> /other", "other dir 755", "other/new file 644"],
  },
  {
    name: "whiteouts hide the layers below only, whatever the order",
    layers: [
      [{ name: "a/old", data: "o" }],
      [{ name: "a/new", data: "n" }, { name: "a/.wh.new" }, { name: "a/.wh.old" }, { name: "a/.wh..wh.plnk" }],
    ],
    tree: ["a dir 755", "a/new file 644"],
  },
  {
    name: "FIFOs and devices are left out",
    layers: [
      [
        { name: "p", type: "6" },
        { name: "dev/null", type: "3", devmajor: 1, devminor: 3 },
        { name: "ok", data: "ok" },
      ],
    ],
    tree: ["ok file 644"],
  },
  {
    name: "a directory over a symlink replaces the symlink, it is not followed",
    layers: [
      [
        { name: "t/", type: "5" },
        { name: "s", type: "2", linkname: "t" },
      ],
      [
        { name: "s/", type: "5", mode: 0o750 },
        { name: "s/f", data: "f" },
      ],
    ],
    tree: ["s dir 750", "s/f file 644", "t dir 755"],
  },
  {
    name: "a file replacing a directory of a lower layer hides what was under it; a directory over a directory merges",
    layers: [
      [
        { name: "a/x", data: "1" },
        { name: "b/y", data: "2" },
      ],
      [
        { name: "a", data: "f" },
        { name: "b/", type: "5", mode: 0o700 },
        { name: "b/z", data: "3" },
      ],
    ],
    tree: ["a file 644", "b dir 700", "b/y file 644", "b/z file 644"],
  },
  {
    name: "a hard link to a symlink copies it",
    layers: [
      [
        { name: "d/l", type: "2", linkname: "../x" },
        { name: "e/h", type: "1", linkname: "d/l" },
      ],
    ],
    tree: ["d dir 755", "d/l symlink -> ../x", "e dir 755", "e/h symlink -> ../x"],
  },
  {
    name: "across layers: r -> / below, a climbing link through it above",
    layers: [[{ name: "r", type: "2", linkname: "/" }], [{ name: "r/a/b/l", type: "2", linkname: "../../../etc" }]],
    refused: 'entry "r/a/b/l": symlink to "../../../etc" leads outside the root',
  },
  {
    name: "across layers: a file below what a lower layer made a file",
    layers: [[{ name: "f", data: "x" }], [{ name: "f/x", data: "y" }]],
    refused: 'entry "f/x": "f" on its path is not a directory',
  },
  {
    name: "across layers: a hard link through a lower layer's symlink to a directory",
    layers: [
      [
        { name: "real/sub/", type: "5" },
        { name: "s", type: "2", linkname: "real" },
      ],
      [{ name: "h", type: "1", linkname: "s/sub" }],
    ],
    refused: 'entry "h": hard link target "s/sub" is a directory',
  },
];

describe("the unpacker and verify-image agree on layer stacks", () => {
  for (const c of STACKS) {
    it(c.name, async () => {
      const v = await bothVerdicts(c.layers.map(L));
      expectSame(v);
      if (c.tree) expect(v.unpacker).toEqual({ ok: true, tree: c.tree });
      else expect(v.unpacker).toMatchObject({ ok: false, code: "E_LAYER_UNSAFE", entry: c.refused });
    });
  }
});

describe("the pieces", () => {
  const fail = (why: string) => new PipelineError("E_LAYER_UNSAFE", why);
  it("planEntry: whiteout names, AUFS bookkeeping, the root", () => {
    expect(planEntry("./a/.wh.b", "file", fail)).toEqual({ kind: "whiteout", parent: ["a"], name: "b" });
    expect(planEntry("a/.wh..wh..opq", "file", fail)).toEqual({ kind: "opaque", parent: ["a"] });
    expect(planEntry("a/.wh..wh.plnk", "file", fail)).toEqual({ kind: "ignored" });
    expect(planEntry("/", "dir", fail)).toEqual({ kind: "root" });
    expect(planEntry("a/b/", "dir", fail)).toEqual({ kind: "entry", parent: ["a"], name: "b" });
    for (const bad of [".wh.", ".wh..", ".wh...", "x/../y"])
      expect(() => planEntry(bad, "file", fail)).toThrow(PipelineError);
    expect(() => planEntry("./", "symlink", fail)).toThrow("cannot replace the root directory");
  });

  it("walk: '..' at the root stays there for the container's view, is refused for unpacking", () => {
    const view = {
      node: (p: readonly string[]) =>
        p.join("/") === "up"
          ? { type: "symlink" as const, target: "../../x" }
          : p.join("/") === "x"
            ? { type: "dir" as const }
            : undefined,
    };
    expect(walk(view, ["up"], { aboveRoot: "stay" })).toMatchObject({
      ok: true,
      parts: ["x"],
      via: [{ at: ["up"], target: "../../x" }],
    });
    expect(walk(view, ["up"], { aboveRoot: "refuse" })).toMatchObject({ ok: false, reason: "above-root" });
    expect(walk(view, ["up"], { aboveRoot: "refuse", followLast: false })).toMatchObject({
      ok: true,
      parts: ["up"],
      node: { type: "symlink" },
    });
  });
});

describe("planEntry: path components", () => {
  const fail = (why: string) => new PipelineError("E_LAYER_UNSAFE", why);
  it("takes components of up to NAME_MAX bytes and refuses longer ones, counting bytes, not characters", () => {
    expect(planEntry(`a/${"n".repeat(NAME_MAX)}`, "file", fail)).toEqual({
      kind: "entry",
      parent: ["a"],
      name: "n".repeat(NAME_MAX),
    });
    expect(() => planEntry(`${"n".repeat(NAME_MAX + 1)}/b`, "file", fail)).toThrow(
      `has a component of 256 bytes; file systems take at most 255 (NAME_MAX)`,
    );
    expect(() => planEntry(`a/${"é".repeat(128)}`, "file", fail)).toThrow("has a component of 256 bytes");
  });
});
