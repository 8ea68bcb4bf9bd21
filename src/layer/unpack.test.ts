/**
 * unpackLayers: layers made by buildLayer and by hand (test/corpus/raw-tar.ts), unpacked into temp roots.
 *
 * Cases (47): path normalization; a buildLayer layer round-trips with modes and mtimes; leading "/" and absolute
 * symlink targets resolved inside the root; the 34 HOSTILE_LAYERS of the corpus (each plain and gzipped:
 * "..", escaping symlinks and hard links, write-through-symlink, devices, bad whiteouts, file-as-parent, symlink
 * loops, truncated, bad checksum, no end marker, cut gzip, unknown type, symlinks that climb out from where they
 * really are, a late symlink over a directory next to a canary that must keep its mode and mtime, hard links
 * through symlinks); a pre-existing symlink out of the root
 * is not written through; a symlink at the entry's own path is replaced, not followed; whiteouts and opaque
 * directories; FIFOs and skipped devices; directory modes set last and setuid dropped; hard links and type
 * replacement; hard link to a directory; digest/diffId/blob-name checks; zstd; an unreadable layer file; an
 * uncreatable root.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { CANARY_MTIME, gz, HOSTILE_LAYERS, rawTar, type RawEntry } from "../../test/corpus/raw-tar";
import { PipelineError } from "../errors";
import { type Digest, sha256 } from "../oci/digest";
import { buildLayer, layerFromDescriptor } from "./build";
import { entryParts, unpackLayers } from "./unpack";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "unpack-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) {
    // Unpacked trees may hold read-only directories.
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      require("node:child_process").spawnSync("chmod", ["-R", "u+rwx", d]);
      rmSync(d, { recursive: true, force: true });
    }
  }
});

/** An in-memory layer with the right digest and diffId (gzip unless `plain`). */
function layer(entries: RawEntry[], plain = false): { digest: Digest; diffId: Digest; open: () => Readable } {
  const tar = rawTar(entries);
  const blob = plain ? tar : gz(tar);
  return { digest: sha256(blob), diffId: sha256(tar), open: () => Readable.from([blob]) };
}

async function refused(p: Promise<unknown>, code: string): Promise<PipelineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected an error").toBeInstanceOf(PipelineError);
  expect((e as PipelineError).code, (e as Error).message).toBe(code);
  return e as PipelineError;
}

function tree(root: string, dir = ""): string[] {
  return readdirSync(join(root, dir))
    .sort()
    .flatMap((n) => {
      const rel = dir ? `${dir}/${n}` : n;
      const st = lstatSync(join(root, rel));
      if (st.isSymbolicLink()) return [`${rel} -> ${readlinkSync(join(root, rel))}`];
      if (st.isDirectory()) return [`${rel}/`, ...tree(root, rel)];
      return [`${rel} ${readFileSync(join(root, rel), "utf8")}`];
    });
}

describe("entryParts", () => {
  it("drops a leading / and ./, ignores . and empty components, refuses ..", () => {
    expect(entryParts("/usr/bin/")).toEqual(["usr", "bin"]);
    expect(entryParts("./a//./b")).toEqual(["a", "b"]);
    expect(entryParts("./")).toEqual([]);
    expect(entryParts("a/../b")).toBeNull();
    expect(entryParts("..")).toBeNull();
    expect(entryParts("a/..b/c..")).toEqual(["a", "..b", "c.."]);
  });
});

describe("unpackLayers", () => {
  it("unpacks a layer built by buildLayer, checking its digest and diffId", async () => {
    const d = tmp();
    mkdirSync(join(d, "src"));
    writeFileSync(join(d, "src", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    const desc = await buildLayer(
      [
        { dest: "/app/main.js", content: Buffer.from("console.log(1)\n") },
        { dest: "/app/run.sh", src: join(d, "src", "run.sh") },
        { dest: "/app/latest", symlink: "main.js" },
        { dest: "/tmp", dir: true, mode: 0o1777 },
      ],
      join(d, "layer.tar.gz"),
      { mtime: 1_000_000 },
    );
    const root = join(d, "root");
    const stats = await unpackLayers([layerFromDescriptor(join(d, "layer.tar.gz"), desc)], root);
    expect(tree(root)).toEqual([
      "app/",
      "app/latest -> main.js",
      "app/main.js console.log(1)\n",
      "app/run.sh #!/bin/sh\n",
      "tmp/",
    ]);
    expect(statSync(join(root, "app/run.sh")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(root, "app/main.js")).mode & 0o7777).toBe(0o644);
    expect(statSync(join(root, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, "app/main.js")).mtimeMs).toBe(1_000_000_000);
    expect(stats).toMatchObject({ files: 2, symlinks: 1, dirs: 2, bytes: 25 });
  });

  it("takes a leading / as the root, keeps absolute symlink targets and resolves them inside the root", async () => {
    const root = join(tmp(), "root");
    await unpackLayers(
      [
        layer([
          { name: "/usr/", type: "5" },
          { name: "/usr/bin/", type: "5" },
          { name: "./bin", type: "2", linkname: "/usr/bin" },
          { name: "lib", type: "2", linkname: "usr/lib" },
        ]),
        layer([
          { name: "bin/tool", data: "t", mode: 0o755 },
          { name: "lib/libx.so", data: "so" },
        ]),
      ],
      root,
    );
    expect(tree(root)).toEqual([
      "bin -> /usr/bin",
      "lib -> usr/lib",
      "usr/",
      "usr/bin/",
      "usr/bin/tool t",
      "usr/lib/",
      "usr/lib/libx.so so",
    ]);
  });

  for (const h of HOSTILE_LAYERS) {
    it(`refuses ${h.name} (${h.code}), naming the layer and the entry`, async () => {
      const d = tmp();
      if (h.canary) {
        mkdirSync(join(d, h.canary), { recursive: true, mode: 0o755 });
        utimesSync(join(d, h.canary), CANARY_MTIME, CANARY_MTIME);
      }
      for (const plain of [true, false]) {
        const blob = plain || h.compressed ? h.tar : gz(h.tar);
        const hostile = { digest: sha256(blob), open: () => Readable.from([blob]) };
        const err = await refused(unpackLayers([hostile], join(d, "root")), h.code);
        expect(err.message).toContain(`layer ${hostile.digest}: `);
        for (const m of h.mentions) expect(err.message).toContain(m);
        if (h.mustNotExist) expect(existsSync(join(d, h.mustNotExist))).toBe(false);
        if (h.canary) {
          const st = statSync(join(d, h.canary));
          expect({ mode: (st.mode & 0o7777).toString(8), mtime: st.mtimeMs / 1000 }).toEqual({
            mode: "755",
            mtime: CANARY_MTIME,
          });
        }
        rmSync(join(d, "root"), { recursive: true, force: true });
        if (h.compressed) break; // already compressed
      }
    });
  }

  it("never writes through a symlink already in the root that points outside", async () => {
    const d = tmp();
    const root = join(d, "root");
    mkdirSync(join(d, "outside"));
    mkdirSync(root);
    symlinkSync("../outside", join(root, "out"));
    const err = await refused(unpackLayers([layer([{ name: "out/x", data: "pwned" }])], root), "E_LAYER_UNSAFE");
    expect(err.message).toContain('"out/x"');
    expect(readdirSync(join(d, "outside"))).toEqual([]);
  });

  it("replaces a symlink at the entry's own path instead of following it", async () => {
    const d = tmp();
    const root = join(d, "root");
    mkdirSync(root);
    writeFileSync(join(d, "victim"), "original");
    symlinkSync(join(d, "victim"), join(root, "f"));
    symlinkSync(join(d, "victim"), join(root, "g"));
    await unpackLayers(
      [
        layer([
          { name: "f", data: "new" },
          { name: "g", type: "5" },
        ]),
      ],
      root,
    );
    expect(readFileSync(join(d, "victim"), "utf8")).toBe("original");
    expect(tree(root)).toEqual(["f new", "g/"]);
  });

  it("honours whiteouts and opaque directories against lower layers only", async () => {
    const root = join(tmp(), "root");
    await unpackLayers(
      [
        layer([
          { name: "a/", type: "5" },
          { name: "a/b", data: "b" },
          { name: "a/c", data: "c" },
          { name: "d/", type: "5" },
          { name: "d/old", data: "old" },
          { name: "d/sub/", type: "5" },
          { name: "d/sub/deep", data: "deep" },
          { name: "gone/", type: "5" },
          { name: "gone/x", data: "x" },
          { name: "w/", type: "5" },
          { name: "w/old", data: "old" },
        ]),
        layer([
          { name: "a/.wh.b" },
          { name: "a/new", data: "n" },
          { name: "a/.wh.new" }, // same layer: does not hide a/new
          { name: "d/", type: "5" },
          { name: "d/.wh..wh..opq" },
          { name: "d/sub/", type: "5" },
          { name: "d/sub/fresh", data: "f" },
          { name: ".wh.gone" },
          { name: ".wh.never-existed" },
          { name: "a/.wh..wh.plnk" }, // AUFS bookkeeping: ignored
          { name: "w/keep", data: "k" },
          { name: ".wh.w" }, // after this layer wrote into w: hides only what is below
        ]),
      ],
      root,
    );
    expect(tree(root)).toEqual(["a/", "a/c c", "a/new n", "d/", "d/sub/", "d/sub/fresh f", "w/", "w/keep k"]);
  });

  it("skips FIFOs with a warning, and devices too when asked", async () => {
    const root = join(tmp(), "root");
    const warnings: string[] = [];
    const l = layer([
      { name: "pipe", type: "6" },
      { name: "dev/null", type: "3", devmajor: 1, devminor: 3 },
      { name: "ok", data: "ok" },
    ]);
    const stats = await unpackLayers([l], root, { devices: "skip", warn: (w) => warnings.push(w) });
    expect(tree(root)).toEqual(["ok ok"]);
    expect(warnings).toEqual([
      `layer ${l.digest}: skipped FIFO "pipe"`,
      `layer ${l.digest}: skipped character device 1:3 "dev/null"`,
    ]);
    expect(stats.skipped).toBe(2);
  });

  it("sets directory modes last (a read-only directory still gets the next layer's files) and drops setuid", async () => {
    const d = tmp();
    const root = join(d, "root");
    await unpackLayers(
      [
        layer([
          { name: "ro/", type: "5", mode: 0o555 },
          { name: "suid", data: "x", mode: 0o4755 },
        ]),
        layer([{ name: "ro/late", data: "late" }]),
      ],
      root,
    );
    expect(statSync(join(root, "ro")).mode & 0o7777).toBe(0o555);
    expect(readFileSync(join(root, "ro/late"), "utf8")).toBe("late");
    expect(statSync(join(root, "suid")).mode & 0o7777).toBe(0o755);
    const kept = join(d, "kept");
    await unpackLayers([layer([{ name: "suid", data: "x", mode: 0o4755 }])], kept, { keepSetuid: true });
    expect(statSync(join(kept, "suid")).mode & 0o7777).toBe(0o4755);
  });

  it("makes hard links to earlier entries and replaces entries of other types", async () => {
    const root = join(tmp(), "root");
    await unpackLayers(
      [
        layer([
          { name: "f", data: "data" },
          { name: "was-dir/", type: "5" },
          { name: "was-dir/child", data: "c" },
          { name: "was-file", data: "w" },
        ]),
        layer([
          { name: "h", type: "1", linkname: "/f" },
          { name: "was-dir", data: "now a file" },
          { name: "was-file/", type: "5" },
        ]),
      ],
      root,
    );
    expect(statSync(join(root, "h")).ino).toBe(statSync(join(root, "f")).ino);
    expect(tree(root)).toEqual(["f data", "h data", "was-dir now a file", "was-file/"]);
  });

  it("refuses a hard link to a directory", async () => {
    const err = await refused(
      unpackLayers(
        [
          layer([
            { name: "d/", type: "5" },
            { name: "h", type: "1", linkname: "d" },
          ]),
        ],
        join(tmp(), "root"),
      ),
      "E_LAYER_UNSAFE",
    );
    expect(err.message).toContain('hard link target "d" is a directory');
  });

  it("checks digest and diffId, and a blob path's sha256/HEX name", async () => {
    const d = tmp();
    const good = layer([{ name: "f", data: "x" }]);
    let err = await refused(unpackLayers([{ ...good, digest: sha256("other") }], join(d, "a")), "E_DIGEST_MISMATCH");
    expect(err.message).toBe(
      `layer ${sha256("other")}: its bytes have digest ${good.digest}, expected ${sha256("other")}`,
    );
    err = await refused(unpackLayers([{ ...good, diffId: sha256("other") }], join(d, "b")), "E_DIGEST_MISMATCH");
    expect(err.message).toContain(`expected diff_id ${sha256("other")}`);
    const blobs = join(d, "blobs", "sha256");
    mkdirSync(blobs, { recursive: true });
    const bytes = gz(rawTar([{ name: "f", data: "x" }]));
    const wrong = join(blobs, "0".repeat(64));
    writeFileSync(wrong, bytes);
    await refused(unpackLayers([wrong], join(d, "c")), "E_DIGEST_MISMATCH");
    const right = join(blobs, sha256(bytes).slice(7));
    writeFileSync(right, bytes);
    await unpackLayers([right], join(d, "e"));
    expect(tree(join(d, "e"))).toEqual(["f x"]);
    expect((await unpackLayers([wrong], join(d, "f"), { verify: false })).files).toBe(1);
  });

  it("refuses zstd and says so", async () => {
    const blob = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    const err = await refused(
      unpackLayers([{ digest: sha256(blob), open: () => Readable.from([blob]) }], join(tmp(), "root")),
      "E_TAR_READ",
    );
    expect(err.message).toContain("zstd");
  });

  it("reports a layer file it cannot read", async () => {
    const d = tmp();
    const err = await refused(unpackLayers([join(d, "missing.tar.gz")], join(d, "root")), "E_UNPACK");
    expect(err.message).toBe(`layer ${join(d, "missing.tar.gz")}: cannot read it: ENOENT`);
  });

  it("reports a root it cannot create", async () => {
    const d = tmp();
    writeFileSync(join(d, "file"), "");
    const err = await refused(unpackLayers([layer([])], join(d, "file", "root")), "E_UNPACK");
    expect(err.message).toContain(join(d, "file", "root"));
  });
});
