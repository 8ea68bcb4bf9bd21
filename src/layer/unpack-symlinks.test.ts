/**
 * unpackLayers never follows a symlink on the host (issue #9, defect 1): a canary directory OUTSIDE the root is
 * the target of symlinks that layers put where directories were, and its mode, mtime and contents must not change.
 *
 * Cases (11): a directory replaced by an absolute symlink to the canary in the same layer, in a later layer, and
 * deeper down; a deferred mode is not applied to another directory found at the recorded path later; a symlink
 * already in the root; hard links, whiteouts, opaque whiteouts and new files through a late symlink; a symlink
 * judged where its directory really is (deeper than its archive path: allowed); a hard link to an absolute symlink
 * is kept. (The relative variants, which climb out, are in test/corpus/raw-tar.ts.)
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
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
import { CANARY_MTIME, gz, rawTar, type RawEntry } from "../../test/corpus/raw-tar";
import { PipelineError } from "../errors";
import { type Digest, sha256 } from "../oci/digest";
import { unpackLayers } from "./unpack";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    require("node:child_process").spawnSync("chmod", ["-R", "u+rwx", d]);
    rmSync(d, { recursive: true, force: true });
  }
});

function layer(entries: RawEntry[]): { digest: Digest; diffId: Digest; open: () => Readable } {
  const tar = rawTar(entries);
  const blob = gz(tar);
  return { digest: sha256(blob), diffId: sha256(tar), open: () => Readable.from([blob]) };
}

/** A temp dir holding `root` (not created) and `canary` with the given subdirectories, each 0755 at CANARY_MTIME. */
function setup(subdirs: string[] = ["sub"]): {
  d: string;
  root: string;
  canary: string;
  snapshot: () => Record<string, string>;
} {
  const d = mkdtempSync(join(tmpdir(), "unpack-symlinks-"));
  dirs.push(d);
  const canary = join(d, "canary");
  mkdirSync(canary, { mode: 0o755 });
  writeFileSync(join(canary, "f"), "canary file");
  for (const s of subdirs) mkdirSync(join(canary, s), { recursive: true, mode: 0o755 });
  for (const s of ["", ...subdirs].reverse()) utimesSync(join(canary, s), CANARY_MTIME, CANARY_MTIME);
  const snapshot = () => {
    const out: Record<string, string> = {};
    const walk = (rel: string) => {
      const st = lstatSync(join(canary, rel));
      out[rel || "."] = `${(st.mode & 0o7777).toString(8)} ${st.mtimeMs / 1000} ${st.nlink}`;
      if (st.isDirectory()) for (const n of readdirSync(join(canary, rel)).sort()) walk(rel ? `${rel}/${n}` : n);
    };
    walk("");
    return out;
  };
  return { d, root: join(d, "root"), canary, snapshot };
}

async function refusal(p: Promise<unknown>): Promise<PipelineError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PipelineError);
  return e as PipelineError;
}

describe("unpackLayers and symlinks that replace directories", () => {
  it("same layer: a/sub's mode and mtime do not land on the canary when a becomes an absolute symlink to it", async () => {
    const { root, canary, snapshot } = setup();
    const before = snapshot();
    await unpackLayers(
      [
        layer([
          { name: "a/", type: "5", mode: 0o700 },
          { name: "a/sub/", type: "5", mode: 0o777 },
          { name: "a", type: "2", linkname: canary },
        ]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
    expect(readlinkSync(join(root, "a"))).toBe(canary);
  });

  it("across layers: a later layer's symlink over a directory does not redirect the earlier layer's modes", async () => {
    const { root, canary, snapshot } = setup();
    const before = snapshot();
    await unpackLayers(
      [
        layer([
          { name: "a/", type: "5" },
          { name: "a/sub/", type: "5", mode: 0o777 },
        ]),
        layer([{ name: "a", type: "2", linkname: canary }]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
  });

  it("deeper: a/b replaced by a symlink, a/b/c/d's modes stay inside", async () => {
    const { root, canary, snapshot } = setup(["c/d"]);
    const before = snapshot();
    await unpackLayers(
      [
        layer([
          { name: "a/b/c/d/", type: "5", mode: 0o777 },
          { name: "a/b/c/", type: "5", mode: 0o777 },
        ]),
        layer([
          { name: "a/b", type: "2", linkname: canary },
          { name: "a/b2/", type: "5", mode: 0o751 },
        ]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
    expect(statSync(join(root, "a/b2")).mode & 0o7777).toBe(0o751);
  });

  it("a deferred mode goes to the directory it was recorded for, not to another one found at that path later", async () => {
    const root = join(setup().d, "root");
    await unpackLayers(
      [
        layer([
          { name: "other/sub/", type: "5", mode: 0o751 },
          { name: "a/sub/", type: "5", mode: 0o700 },
        ]),
        layer([{ name: "a", type: "2", linkname: "other" }]),
      ],
      root,
    );
    expect(statSync(join(root, "other/sub")).mode & 0o7777).toBe(0o751);
  });

  it("a symlink to the canary already in the root is resolved inside the root, never on the host", async () => {
    const { root, canary, snapshot } = setup();
    mkdirSync(root);
    symlinkSync(canary, join(root, "a"));
    const before = snapshot();
    await unpackLayers(
      [
        layer([
          { name: "a/sub/", type: "5", mode: 0o777 },
          { name: "a/new", data: "n" },
          { name: "a/.wh.f" },
          { name: "a/.wh..wh..opq" },
        ]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
    expect(statSync(join(root, canary, "sub")).mode & 0o7777).toBe(0o777);
  });

  it("a hard link through a late symlink names a path inside the root (missing there): refused, the canary not linked", async () => {
    const { root, canary, snapshot } = setup();
    const before = snapshot();
    const err = await refusal(
      unpackLayers(
        [
          layer([{ name: "a/f", data: "mine" }]),
          layer([
            { name: "a", type: "2", linkname: canary },
            { name: "h", type: "1", linkname: "a/f" },
          ]),
        ],
        root,
      ),
    );
    expect(err.message).toContain('hard link target "a/f" does not exist');
    expect(snapshot()).toEqual(before);
  });

  it("whiteouts and opaque whiteouts through a late symlink delete nothing outside", async () => {
    const { root, canary, snapshot } = setup();
    const before = snapshot();
    await unpackLayers(
      [
        layer([{ name: "a/f", data: "mine" }]),
        layer([
          { name: "a", type: "2", linkname: canary },
          { name: "a/.wh.f" },
          { name: "a/.wh.sub" },
          { name: "a/.wh..wh..opq" },
        ]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
  });

  it("files and directories written through a late symlink land inside the root", async () => {
    const { root, canary, snapshot } = setup();
    const before = snapshot();
    await unpackLayers(
      [
        layer([
          { name: "a/", type: "5" },
          { name: "a", type: "2", linkname: canary },
          { name: "a/sub/x", data: "x" },
          { name: "a/sub/", type: "5", mode: 0o777 },
        ]),
      ],
      root,
    );
    expect(snapshot()).toEqual(before);
    expect(statSync(join(root, canary, "sub")).mode & 0o7777).toBe(0o777);
  });

  it("judges a relative symlink where its directory really is: deeper than its archive path is fine", async () => {
    const root = join(setup().d, "root");
    await unpackLayers(
      [
        layer([
          { name: "usr/lib/", type: "5" },
          { name: "lib", type: "2", linkname: "usr/lib" },
          { name: "lib/etc-link", type: "2", linkname: "../../etc" },
        ]),
      ],
      root,
    );
    expect(readlinkSync(join(root, "usr/lib/etc-link"))).toBe("../../etc");
  });

  it("a hard link to an absolute symlink is a second symlink, kept (absolute targets mean inside the root)", async () => {
    const root = join(setup().d, "root");
    await unpackLayers(
      [
        layer([
          { name: "d/l", type: "2", linkname: "/etc/os-release" },
          { name: "h", type: "1", linkname: "d/l" },
        ]),
      ],
      root,
    );
    expect(readlinkSync(join(root, "h"))).toBe("/etc/os-release");
    expect(lstatSync(join(root, "h")).ino).toBe(lstatSync(join(root, "d/l")).ino);
  });

  it("the root entry keeps the root's own mode", async () => {
    const { d } = setup();
    const root = join(d, "root");
    mkdirSync(root, { mode: 0o755 });
    await unpackLayers([layer([{ name: "./", type: "5", mode: 0o777 }])], root);
    expect(statSync(root).mode & 0o7777).toBe(0o755);
  });
});
