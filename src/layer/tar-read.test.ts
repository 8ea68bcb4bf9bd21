import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { paxRecord, tarStream, type TarEntry } from "./tar";
import { listLayer, parsePax, readTarEntries } from "./tar-read";
import { paxBomb, ustarHeader } from "../../test/corpus/bombs";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tar-read-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarStream(entries, { mtime: 0 })) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function readAll(tar: Buffer, chunk = 4096): Promise<{ path: string; type: string; body: string }[]> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) pieces.push(tar.subarray(i, i + chunk));
  const out: { path: string; type: string; body: string }[] = [];
  for await (const e of readTarEntries(Readable.from(pieces))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ path: e.path, type: e.type, body: Buffer.concat(parts).toString() });
  }
  return out;
}

/** Rewrites a header's checksum after a test has tampered with it. */
function fixChecksum(tar: Buffer, at: number): void {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : tar[at + i];
  tar.write(sum.toString(8).padStart(6, "0") + "\0 ", at + 148, "latin1");
}

async function readError(tar: Buffer, opts = {}): Promise<PipelineError> {
  try {
    for await (const e of readTarEntries(Readable.from([tar]), opts)) for await (const _ of e.body) void _;
  } catch (e) {
    expect(e).toBeInstanceOf(PipelineError);
    expect((e as PipelineError).code).toBe("E_TAR_READ");
    return e as PipelineError;
  }
  throw new Error("expected the archive to be refused");
}

describe("readTarEntries", () => {
  it("reads our archives whatever the chunking, bodies read or skipped", async () => {
    const tar = await tarOf([
      { path: "a", type: "dir", mode: 0o755 },
      { path: "a/" + "n".repeat(150), type: "file", mode: 0o644, content: Buffer.from("long") },
      { path: "a/f", type: "file", mode: 0o600, content: Buffer.alloc(1500, 65) },
      { path: "a/l", type: "symlink", mode: 0o777, linkname: "f" },
    ]);
    for (const chunk of [1, 7, 512, 100000]) {
      expect(await readAll(tar, chunk)).toEqual([
        { path: "a/", type: "dir", body: "" },
        { path: "a/" + "n".repeat(150), type: "file", body: "long" },
        { path: "a/f", type: "file", body: "A".repeat(1500) },
        { path: "a/l", type: "symlink", body: "" },
      ]);
    }
    // skipping bodies
    const paths: string[] = [];
    for await (const e of readTarEntries(Readable.from([tar])))
      paths.push(`${e.path} ${e.size} ${e.mode.toString(8)} ${e.linkname}`);
    expect(paths).toEqual(["a/ 0 755 ", `a/${"n".repeat(150)} 4 644 `, "a/f 1500 600 ", "a/l 0 777 f"]);
  });

  it("reads GNU tar's gnu and posix formats, long names, prefixes and hard links", async () => {
    const root = tmp();
    const src = join(root, "src");
    const long = "d".repeat(60) + "/" + "e".repeat(70);
    mkdirSync(join(src, long), { recursive: true });
    writeFileSync(join(src, long, "f".repeat(80)), "deep");
    writeFileSync(join(src, "h"), "hard");
    execFileSync("ln", [join(src, "h"), join(src, "h2")]);
    symlinkSync("x".repeat(150), join(src, "sl"));
    chmodSync(join(src, "h"), 0o640);
    for (const format of ["gnu", "posix", "ustar"]) {
      const out = join(root, `${format}.tar`);
      const args = ["--format=" + format, "--sort=name", "-C", src, "-cf", out, "."];
      try {
        execFileSync("tar", args, { stdio: "pipe" });
      } catch {
        // ustar cannot hold the 150-byte symlink target: GNU tar skips it with an error, the archive is still written
      }
      const list = await listLayer(out);
      const byPath = new Map(list.map((e) => [e.path.replace(/^\.\//, ""), e]));
      expect(byPath.get(`${long}/${"f".repeat(80)}`)?.size).toBe(4);
      expect(byPath.get("h")?.mode).toBe(0o640);
      expect(byPath.get("h2")).toMatchObject({ type: "link", linkname: "./h", size: 0 });
      if (format !== "ustar") expect(byPath.get("sl")).toMatchObject({ type: "symlink", linkname: "x".repeat(150) });
    }
  });

  it("gunzips layers and reads plain tars", async () => {
    const root = tmp();
    const tar = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.from("x") }]);
    writeFileSync(join(root, "l.tar"), tar);
    writeFileSync(join(root, "l.tgz"), gzipSync(tar));
    const want = [
      { path: "f", type: "file", mode: 0o644, size: 1, linkname: "", mtime: 0, uid: 0, gid: 0, uname: "", gname: "" },
    ];
    expect(await listLayer(join(root, "l.tar"))).toEqual(want);
    expect(await listLayer(join(root, "l.tgz"))).toEqual(want);
    writeFileSync(join(root, "cut.tgz"), gzipSync(tar).subarray(0, 30));
    await expect(listLayer(join(root, "cut.tgz"))).rejects.toBeInstanceOf(PipelineError);
  });

  describe("refuses hostile or broken archives", () => {
    it("a bad checksum", async () => {
      const tar = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.from("x") }]);
      tar[0] = "g".charCodeAt(0);
      expect((await readError(tar)).message).toMatch(/checksum/);
    });

    it("a truncated body, a truncated header, and a missing end-of-archive marker", async () => {
      const tar = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.alloc(2000, 1) }]);
      expect((await readError(tar.subarray(0, 1200))).message).toMatch(/truncated inside "f"/);
      expect((await readError(tar.subarray(0, 300))).message).toMatch(/truncated/);
      expect((await readError(tar.subarray(0, tar.length - 1024))).message).toMatch(/end-of-archive/);
    });

    it("a size larger than the data that follows (sizes are not trusted)", async () => {
      const tar = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.from("x") }]);
      tar.write("77777777777\0", 124, "latin1");
      fixChecksum(tar, 0);
      expect((await readError(tar)).message).toMatch(/truncated inside "f"/);
    });

    it("data on a directory or symlink", async () => {
      const tar = await tarOf([{ path: "d", type: "dir", mode: 0o755 }]);
      tar.write("00000000001\0", 124, "latin1");
      fixChecksum(tar, 0);
      expect((await readError(tar)).message).toMatch(/dir entry "d\/" claims 1 bytes/);
    });

    it("oversized or malformed PAX headers", async () => {
      const tar = await tarOf([{ path: "p".repeat(200), type: "file", mode: 0o644, content: Buffer.from("x") }]);
      expect((await readError(tar, { maxMetaSize: 100 })).message).toMatch(/exceeds the 100-byte limit/);
      const bad = Buffer.from(tar);
      bad.write("999", 512, "latin1"); // record length past the header
      expect((await readError(bad)).message).toMatch(/PAX record/);
      expect(() => parsePax(Buffer.from("5 a=b\n"), 0)).toThrow(/PAX record/);
      expect(() => parsePax(Buffer.from("6 =b\nx"), 0)).toThrow(/PAX record/);
      expect(parsePax(Buffer.from("6 a=b\n"), 0)).toEqual({ a: "b" });
    });

    it("non-octal numbers and unknown entry types", async () => {
      const tar = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.from("x") }]);
      const t1 = Buffer.from(tar);
      t1.write("0000009\0", 100, "latin1");
      fixChecksum(t1, 0);
      expect((await readError(t1)).message).toMatch(/mode field is not an octal number/);
      const t2 = Buffer.from(tar);
      t2.write("S", 156, "latin1");
      fixChecksum(t2, 0);
      expect((await readError(t2)).message).toMatch(/unsupported entry type "S"/);
      const t3 = Buffer.from(tar);
      t3.write("x".padEnd(512, "\0"), 0, "latin1"); // no magic, no checksum: garbage
      expect((await readError(t3)).message).toMatch(/checksum/);
    });

    it("a PAX size that disagrees with the data", async () => {
      // a PAX header claiming a huge size for a 1-byte file: the reader waits for data that is not there
      const rec = paxRecord("size", "99999999999999").toString();
      const pax = Buffer.alloc(512);
      pax.write("PaxHeaders/f", 0, "latin1");
      pax.write("0000644\0", 100, "latin1");
      pax.write("0000000\0", 108, "latin1");
      pax.write("0000000\0", 116, "latin1");
      pax.write(rec.length.toString(8).padStart(11, "0") + "\0", 124, "latin1");
      pax.write("00000000000\0", 136, "latin1");
      pax.write("x", 156, "latin1");
      pax.write("ustar\u000000", 257, "latin1");
      fixChecksum(pax, 0);
      const body = Buffer.alloc(512);
      body.write(rec, 0, "latin1");
      const file = await tarOf([{ path: "f", type: "file", mode: 0o644, content: Buffer.from("x") }]);
      const e = await readError(Buffer.concat([pax, body, file]));
      expect(e.message).toMatch(/truncated inside "f"/);
    });
  });
});

/** An extended header (`x`, `g`, `L`, `K`) with its data and padding. */
function ext(type: string, data: Buffer | string): Buffer {
  const b = Buffer.from(data);
  return Buffer.concat([ustarHeader(type, "PaxHeader", b.length), b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

const file = (name: string) => ustarHeader("0", name, 0);
const END = Buffer.alloc(1024);

async function paths(tar: Buffer, opts = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTarEntries(Readable.from([tar]), opts)) out.push(e.path);
  return out;
}

describe("readTarEntries: metadata caps (PAX and long-name floods)", () => {
  it("caps the extended headers of one entry together, not just each one", async () => {
    const two = Buffer.concat([
      ext("x", paxRecord("k1", "a".repeat(600))),
      ext("x", paxRecord("k2", "b".repeat(600))),
      file("f"),
      END,
    ]);
    expect((await readError(two, { maxMetaSize: 1000 })).message).toMatch(
      /extended headers of one entry total more than 1000 bytes/,
    );
    const longName = Buffer.concat([
      ext("L", "n".repeat(700)),
      ext("x", paxRecord("k", "v".repeat(400))),
      file("f"),
      END,
    ]);
    expect((await readError(longName, { maxMetaSize: 1000 })).message).toMatch(/one entry total more than 1000 bytes/);
    // The same headers, one per entry: fine.
    const spread = Buffer.concat([
      ext("x", paxRecord("k1", "a".repeat(600))),
      file("f"),
      ext("x", paxRecord("k2", "b".repeat(600))),
      file("g"),
      END,
    ]);
    expect(await paths(spread, { maxMetaSize: 1000 })).toEqual(["f", "g"]);
  });

  it("caps the global records kept (their count too: each costs 32 bytes more), and still applies small ones", async () => {
    const g = (i: number) => ext("g", paxRecord(`key${i}`, "v".repeat(10_000)));
    const many = Buffer.concat([...Array.from({ length: 8 }, (_, i) => g(i)), file("f"), END]);
    expect((await readError(many)).message).toMatch(
      /global PAX records would hold \d+ bytes, over the 65536-byte limit/,
    );
    const tiny = Buffer.concat([
      ext("g", Buffer.concat(Array.from({ length: 3000 }, (_, i) => paxRecord(`k${i}`, "")))),
      file("f"),
      END,
    ]);
    expect((await readError(tiny)).message).toMatch(/global PAX records/);
    // One key set again and again holds one record: fine. And it applies to every entry after it.
    const same = Buffer.concat([
      ...Array.from({ length: 20 }, () => ext("g", paxRecord("comment", "v".repeat(10_000)))),
      ext("g", paxRecord("uname", "builder")),
      file("f"),
      file("g"),
      END,
    ]);
    const unames: string[] = [];
    for await (const e of readTarEntries(Readable.from([same]))) unames.push(e.uname);
    expect(unames).toEqual(["builder", "builder"]);
  });

  it("caps the extended-header data of the whole archive, naming the limit and $PIPELINE_MAX_TAR_METADATA", async () => {
    const entries = Array.from({ length: 40 }, (_, i) =>
      Buffer.concat([ext("x", paxRecord("comment", "c".repeat(1000))), file(`f${i}`)]),
    );
    const tar = Buffer.concat([...entries, END]);
    expect(await paths(tar, { maxArchiveMeta: 40 * 1024 })).toHaveLength(40);
    const e = await readError(tar, { maxArchiveMeta: 20 * 1024 });
    expect(e.message).toMatch(
      /extended headers total more than 20(\.0)? KiB, the limit per layer \(raise it with \$PIPELINE_MAX_TAR_METADATA\)/,
    );
  });

  it("refuses paths and link targets longer than 4096 bytes", async () => {
    const long = "d/".repeat(2048) + "f"; // 4097 bytes
    const e1 = await readError(Buffer.concat([ext("x", paxRecord("path", long)), file("f"), END]));
    expect(e1.message).toMatch(/entry path of 4097 bytes is longer than 4096 bytes/);
    const e2 = await readError(Buffer.concat([ext("K", long), ustarHeader("2", "l", 0), END]));
    expect(e2.message).toMatch(/entry "l": link target of 4097 bytes is longer than 4096 bytes/);
    expect(await paths(Buffer.concat([ext("x", paxRecord("path", long.slice(1))), file("f"), END]))).toEqual([
      long.slice(1),
    ]);
  });

  it("stops the issue's bomb shapes (1 MiB headers by the hundred) at their first offending header", async () => {
    const dir = tmp();
    for (const [opts, message] of [
      [{ kind: "x" }, /one entry total more than/],
      [{ kind: "g" }, /global PAX records/],
      [{ kind: "alternate" }, /global PAX records/],
      [{ paths: true, kind: "x" }, /entry path of \d+ bytes is longer than 4096/],
    ] as const) {
      const bomb = paxBomb(join(dir, "b.tar.gz"), { ...opts, headers: 200 });
      const e = await listLayer(bomb.path).then(
        () => undefined,
        (err: PipelineError) => err,
      );
      expect(e?.code).toBe("E_TAR_READ");
      expect(e?.message).toMatch(message);
      expect(Number(/at offset (\d+)/.exec(e!.message)![1])).toBeLessThan(4 << 20);
    }
  });
});
