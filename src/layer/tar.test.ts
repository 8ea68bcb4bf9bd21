import { execFileSync } from "node:child_process";
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
  openSync,
  ftruncateSync,
  closeSync,
  utimesSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { PipelineError } from "../errors";
import { paxRecord, type TarEntry, tarStream } from "./tar";
import { readTarEntries } from "./tar-read";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "tar-test-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const GNU_POSIX = (mtime: number) => [
  "--format=posix",
  "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
  "--owner=0",
  "--group=0",
  "--numeric-owner",
  `--mtime=@${mtime}`,
  "--sort=name",
  "-b",
  "1",
];

const A90 = "a".repeat(90);
const B60 = "b".repeat(60);
const X120 = "x".repeat(120);
const C120 = "c".repeat(120);
const Q120 = "q".repeat(120);

/** A tree whose GNU `--sort=name` order equals a bytewise sort of full paths. */
function makeTree(root: string): TarEntry[] {
  const d = join(root, "d");
  mkdirSync(join(d, A90), { recursive: true });
  mkdirSync(join(d, Q120, "sub"), { recursive: true });
  writeFileSync(join(d, A90, B60), "z");
  writeFileSync(join(d, "f.txt"), "hello\n");
  writeFileSync(join(d, "run.sh"), "#!/bin/sh\necho hi\n");
  writeFileSync(join(d, X120), "a");
  writeFileSync(join(d, "é.txt"), "y");
  symlinkSync("f.txt", join(d, "l"));
  symlinkSync(C120, join(d, "longlink"));
  symlinkSync(`${A90}/${B60}`, join(d, "lnk2"));
  for (const p of [d, join(d, A90), join(d, Q120), join(d, Q120, "sub")]) chmodSync(p, 0o755);
  for (const p of [join(d, A90, B60), join(d, "f.txt"), join(d, X120), join(d, "é.txt")]) chmodSync(p, 0o644);
  chmodSync(join(d, "run.sh"), 0o755);
  return [
    { path: "d", type: "dir", mode: 0o755 },
    { path: `d/${A90}`, type: "dir", mode: 0o755 },
    { path: `d/${A90}/${B60}`, type: "file", mode: 0o644, source: join(d, A90, B60), size: 1 },
    { path: "d/f.txt", type: "file", mode: 0o644, content: Buffer.from("hello\n") },
    { path: "d/l", type: "symlink", mode: 0o777, linkname: "f.txt" },
    { path: "d/lnk2", type: "symlink", mode: 0o777, linkname: `${A90}/${B60}` },
    { path: "d/longlink", type: "symlink", mode: 0o777, linkname: C120 },
    { path: `d/${Q120}`, type: "dir", mode: 0o755 }, // a long directory name: PAX path with its trailing "/"
    { path: `d/${Q120}/sub/`, type: "dir", mode: 0o755 },
    { path: "d/run.sh", type: "file", mode: 0o755, source: join(d, "run.sh") },
    { path: `d/${X120}`, type: "file", mode: 0o644, source: join(d, X120), size: 1 },
    { path: "d/é.txt", type: "file", mode: 0o644, source: join(d, "é.txt"), size: 1 },
  ];
}

describe("tarStream", () => {
  it("writes the same bytes as GNU tar --format=posix (ustar headers, PAX long names and links, non-ASCII)", async () => {
    const root = tmp();
    const entries = makeTree(root);
    for (const mtime of [0, 1_700_000_000]) {
      const ours = await collect(tarStream(entries, { mtime }));
      const gnu = execFileSync("tar", [...GNU_POSIX(mtime), "-C", root, "-cf", "-", "d"], { maxBuffer: 1 << 26 });
      expect(ours.length).toBe(gnu.length);
      expect(ours.equals(gnu)).toBe(true);
    }
  });

  it("with linkDuplicates, writes hard links byte for byte as GNU tar does for hard-linked files; decided by content", async () => {
    const root = tmp();
    const d = join(root, "d");
    mkdirSync(join(d, X120), { recursive: true });
    chmodSync(d, 0o755);
    chmodSync(join(d, X120), 0o755);
    const big = Buffer.alloc(70000, "addon ");
    writeFileSync(join(d, "a.node"), big);
    linkSync(join(d, "a.node"), join(d, X120, "b.node")); // node-gyp's build/Release/x.node and obj.target/x.node
    linkSync(join(d, "a.node"), join(d, "c.node"));
    writeFileSync(join(d, "same-size.bin"), Buffer.alloc(70000, "other "));
    writeFileSync(join(d, "empty1"), "");
    writeFileSync(join(d, "empty2"), "");
    for (const f of ["a.node", "same-size.bin", "empty1", "empty2"]) chmodSync(join(d, f), 0o644);
    const file = (path: string, src: string): TarEntry => ({
      path,
      type: "file",
      mode: 0o644,
      source: join(root, src),
      size: statSync(join(root, src)).size,
    });
    const entries: TarEntry[] = [
      { path: "d", type: "dir", mode: 0o755 },
      file("d/a.node", "d/a.node"),
      file("d/c.node", "d/c.node"),
      file("d/empty1", "d/empty1"),
      file("d/empty2", "d/empty2"),
      file("d/same-size.bin", "d/same-size.bin"),
      { path: `d/${X120}`, type: "dir", mode: 0o755 },
      file(`d/${X120}/b.node`, `d/${X120}/b.node`),
    ];
    const gnu = execFileSync("tar", [...GNU_POSIX(0), "-C", root, "-cf", "-", "d"], { maxBuffer: 1 << 26 });
    const ours = await collect(tarStream(entries, { mtime: 0, linkDuplicates: true }));
    expect(ours.equals(gnu)).toBe(true);
    // The same bytes when the inputs are separate copies (what a hermetic sandbox or a remote cache may hand us)
    const copies = join(root, "copies");
    mkdirSync(copies);
    for (const name of ["a", "b", "c"]) writeFileSync(join(copies, name), big);
    const fromCopies = entries.map((e) =>
      e.type === "file" && e.path.endsWith(".node") ? { ...e, source: join(copies, e.path.slice(-6, -5)) } : e,
    );
    expect((await collect(tarStream(fromCopies, { mtime: 0, linkDuplicates: true }))).equals(gnu)).toBe(true);
    // Another mode is another file; without the option every file is written in full
    const other = entries.map((e) => (e.path === "d/c.node" ? { ...e, mode: 0o755 } : e));
    const names = async (es: TarEntry[], linkDuplicates: boolean) => {
      const out: string[] = [];
      for await (const e of readTarEntries(tarStream(es, { mtime: 0, linkDuplicates }))) {
        out.push(`${e.path} ${e.type}${e.type === "link" ? ` ${e.linkname}` : ""}`);
        for await (const _ of e.body) void _;
      }
      return out.filter((l) => l.includes(".node"));
    };
    expect(await names(other, true)).toEqual(["d/a.node file", "d/c.node file", `d/${X120}/b.node link d/a.node`]);
    expect(await names(entries, false)).toEqual(["d/a.node file", "d/c.node file", `d/${X120}/b.node file`]);
  });

  it("is listed and extracted by GNU tar as written", async () => {
    const root = tmp();
    const entries = makeTree(root);
    const out = join(root, "out.tar");
    writeFileSync(out, await collect(tarStream(entries, { mtime: 86400 })));
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", out], {
      env: { ...process.env, TZ: "UTC", LC_ALL: "C.UTF-8" },
    }).toString();
    const lines = listing.trim().split("\n");
    expect(lines).toHaveLength(entries.length);
    expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 1970-01-02 00:00 d\/$/);
    expect(lines).toContain("-rw-r--r-- 0/0               6 1970-01-02 00:00 d/f.txt");
    expect(lines).toContain("-rwxr-xr-x 0/0              18 1970-01-02 00:00 d/run.sh");
    expect(lines).toContain("lrwxrwxrwx 0/0               0 1970-01-02 00:00 d/l -> f.txt");
    expect(lines).toContain(`lrwxrwxrwx 0/0               0 1970-01-02 00:00 d/longlink -> ${C120}`);
    expect(lines).toContain(`-rw-r--r-- 0/0               1 1970-01-02 00:00 d/${A90}/${B60}`);
    expect(lines).toContain("-rw-r--r-- 0/0               1 1970-01-02 00:00 d/é.txt");

    const x = join(root, "x");
    mkdirSync(x);
    execFileSync("tar", ["-xf", out, "-C", x]);
    expect(readFileSync(join(x, "d/f.txt"), "utf8")).toBe("hello\n");
    expect(readFileSync(join(x, "d", A90, B60), "utf8")).toBe("z");
    expect(readFileSync(join(x, "d", X120), "utf8")).toBe("a");
    expect(readFileSync(join(x, "d/é.txt"), "utf8")).toBe("y");
    expect(readFileSync(join(x, "d/l"), "utf8")).toBe("hello\n");
    expect(readFileSync(join(x, "d/lnk2"), "utf8")).toBe("z");
  });

  it("has a byte-exact ustar header for a small file", async () => {
    const tar = await collect(
      tarStream([{ path: "a/b.txt", type: "file", mode: 0o755, content: Buffer.from("hi") }], { mtime: 0o1234 }),
    );
    expect(tar.length).toBe(512 + 512 + 1024);
    const h = tar.subarray(0, 512);
    const field = (off: number, len: number) => h.subarray(off, off + len).toString("latin1");
    expect(field(0, 100)).toBe("a/b.txt" + "\0".repeat(93));
    expect(field(100, 8)).toBe("0000755\0");
    expect(field(108, 8)).toBe("0000000\0");
    expect(field(116, 8)).toBe("0000000\0");
    expect(field(124, 12)).toBe("00000000002\0");
    expect(field(136, 12)).toBe("00000001234\0");
    expect(field(156, 1)).toBe("0");
    expect(field(157, 100)).toBe("\0".repeat(100));
    expect(field(257, 8)).toBe("ustar\u000000");
    expect(field(265, 64)).toBe("\0".repeat(64)); // uname, gname
    expect(field(329, 16)).toBe("0000000\u00000000000\0");
    expect(field(345, 167)).toBe("\0".repeat(167));
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    expect(field(148, 8)).toBe(sum.toString(8).padStart(6, "0") + "\0 ");
    expect(tar.subarray(512, 514).toString()).toBe("hi");
    expect(tar.subarray(514).equals(Buffer.alloc(tar.length - 514))).toBe(true); // padding + two zero blocks
  });

  it("uses PAX only past 100 bytes or for non-ASCII, with a PID-free header name and no atime/ctime", async () => {
    const p100 = "p/" + "n".repeat(98);
    const p101 = "p/" + "n".repeat(99);
    const tar = await collect(
      tarStream(
        [
          { path: p100, type: "file", mode: 0o644, content: Buffer.alloc(0) },
          { path: p101, type: "file", mode: 0o644, content: Buffer.alloc(0) },
          { path: "ü", type: "symlink", mode: 0o777, linkname: "l".repeat(100) },
          { path: "v", type: "symlink", mode: 0o777, linkname: "l".repeat(101) },
        ],
        { mtime: 0 },
      ),
    );
    const names: string[] = [];
    const paxes: Record<string, string>[] = [];
    for await (const e of readTarEntries(Readable.from([tar]))) {
      names.push(e.path);
      paxes.push(e.pax);
    }
    expect(names).toEqual([p100, p101, "ü", "v"]);
    expect(paxes).toEqual([{}, { path: p101 }, { path: "ü" }, { linkpath: "l".repeat(101) }]);
    const text = tar.toString("latin1");
    expect(text).not.toMatch(/atime|ctime/);
    expect(text).toContain("p/PaxHeaders/" + "n".repeat(87)); // truncated to the 100-byte name field
    expect(text).toContain("./PaxHeaders/v\0");
    expect(text).not.toMatch(/PaxHeaders\.\d/);
    // the first entry is plain ustar: its header is at offset 0 and names the file directly
    expect(tar.subarray(0, 100).toString()).toBe(p100);
  });

  it("encodes PAX record lengths including their own digits", () => {
    expect(paxRecord("path", "x").toString()).toBe("9 path=x\n");
    expect(paxRecord("path", "x".repeat(90)).toString()).toBe(`99 path=${"x".repeat(90)}\n`);
    // 98 bytes of body: "100" would make it 101 bytes, so the length jumps from 99 to 101
    expect(paxRecord("path", "x".repeat(91)).toString()).toBe(`101 path=${"x".repeat(91)}\n`);
    expect(paxRecord("path", "é").toString()).toBe("11 path=é\n");
  });

  it("writes a PAX size record for files of 8 GiB and more", async () => {
    const root = tmp();
    const big = join(root, "big");
    const fd = openSync(big, "w");
    ftruncateSync(fd, 8 * 1024 ** 3); // sparse
    closeSync(fd);
    const s = tarStream([{ path: "big", type: "file", mode: 0o644, source: big }], { mtime: 0 });
    // Paused in the handler itself: a flowing stream would go on reading the 8 GiB (of zeros) before the awaiting code
    // could destroy it, which took minutes on a loaded machine (and failed the test's time-out).
    const first = await new Promise<Buffer>((resolve, reject) => {
      s.once("data", (d: Buffer) => {
        s.pause();
        resolve(d);
      });
      s.once("error", reject);
    });
    s.destroy();
    expect(first.subarray(0, 512).toString("latin1", 0, 16)).toBe("./PaxHeaders/big");
    expect(first.subarray(512, 1024).toString("latin1")).toMatch(/^19 size=8589934592\n\0/);
    const h = first.subarray(1024, 1536);
    expect(h.toString("latin1", 0, 3)).toBe("big");
    expect(h.toString("latin1", 124, 136)).toBe("00000000000\0");
  });

  it("pads content to 512 bytes and ends with exactly two zero blocks", async () => {
    for (const n of [0, 1, 511, 512, 513, 1 << 20, (1 << 20) + 7]) {
      const tar = await collect(
        tarStream([{ path: "f", type: "file", mode: 0o644, content: Buffer.alloc(n, 7) }], { mtime: 0 }),
      );
      const data = Math.ceil(n / 512) * 512;
      expect(tar.length).toBe(512 + data + 1024);
      expect(tar.subarray(tar.length - 1024).equals(Buffer.alloc(1024))).toBe(true);
    }
    const empty = await collect(tarStream([], { mtime: 0 }));
    expect(empty.equals(Buffer.alloc(1024))).toBe(true);
  });

  it("streams a large file without reading ahead of a slow consumer", async () => {
    const root = tmp();
    const f = join(root, "big.bin");
    const fd = openSync(f, "w");
    ftruncateSync(fd, 64 << 20);
    closeSync(fd);
    const s = tarStream([{ path: "big.bin", type: "file", mode: 0o644, source: f, size: 64 << 20 }], { mtime: 0 });
    let got = 0;
    s.on("data", (c: Buffer) => {
      got += c.length;
      s.pause();
    });
    await new Promise((r) => setTimeout(r, 300));
    // one chunk delivered, at most a couple buffered: nothing near 64 MiB
    expect(got).toBeLessThanOrEqual(2 << 20);
    expect(s.readableLength).toBeLessThanOrEqual(3 << 20);
    s.removeAllListeners("data");
    let rest = 0;
    for await (const c of s) rest += (c as Buffer).length;
    expect(got + rest).toBe(512 + (64 << 20) + 1024);
  });

  it("keeps going through long runs of large (streamed) files and of small (read-ahead) files", async () => {
    const root = tmp();
    const entries: TarEntry[] = [];
    for (let i = 0; i < 150; i++) {
      const big = i % 75 < 70; // 70 large files in a row, then 5 small ones, twice
      const f = join(root, `f${String(i).padStart(3, "0")}`);
      const fd = openSync(f, "w");
      ftruncateSync(fd, big ? (1 << 20) + 1 : 100);
      closeSync(fd);
      entries.push({
        path: `f${String(i).padStart(3, "0")}`,
        type: "file",
        mode: 0o644,
        source: f,
        size: big ? (1 << 20) + 1 : 100,
      });
    }
    const names: string[] = [];
    let bytes = 0;
    for await (const e of readTarEntries(tarStream(entries, { mtime: 0 }))) {
      names.push(e.path);
      for await (const c of e.body) bytes += c.length;
    }
    expect(names).toEqual(entries.map((e) => e.path));
    expect(bytes).toBe(140 * ((1 << 20) + 1) + 10 * 100);
  });

  it("fails when a source file is shorter than its declared size, or missing", async () => {
    const root = tmp();
    const f = join(root, "f");
    writeFileSync(f, "abc");
    utimesSync(f, 1, 1);
    await expect(
      collect(tarStream([{ path: "f", type: "file", mode: 0o644, source: f, size: 10 }], { mtime: 0 })),
    ).rejects.toThrow(/shorter than expected/);
    await expect(
      collect(tarStream([{ path: "f", type: "file", mode: 0o644, source: join(root, "nope"), size: 1 }], { mtime: 0 })),
    ).rejects.toThrow(/cannot open/);
    await expect(
      collect(tarStream([{ path: "f", type: "file", mode: 0o644, source: f, size: 5 << 20 }], { mtime: 0 })),
    ).rejects.toBeInstanceOf(PipelineError);
  });

  it("rejects invalid entries and mtimes", async () => {
    expect(() => tarStream([], { mtime: -1 })).toThrow(PipelineError);
    expect(() => tarStream([], { mtime: 1.5 })).toThrow(/non-negative integer/);
    await expect(collect(tarStream([{ path: "a\0b", type: "dir", mode: 0o755 }], { mtime: 0 }))).rejects.toThrow(
      /invalid entry path/,
    );
    await expect(collect(tarStream([{ path: "l", type: "symlink", mode: 0o777 }], { mtime: 0 }))).rejects.toThrow(
      /invalid target/,
    );
    await expect(
      collect(tarStream([{ path: "f", type: "file", mode: 0o10000, content: Buffer.alloc(0) }], { mtime: 0 })),
    ).rejects.toThrow(/invalid mode/);
    await expect(collect(tarStream([{ path: "f", type: "file", mode: 0o644 }], { mtime: 0 }))).rejects.toThrow(
      /neither source nor content/,
    );
  });
});
