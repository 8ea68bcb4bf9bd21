/**
 * The base's file system as its layers leave it, for the libraries a Node binary needs: merged-/usr symlinks, versioned
 * library links, whiteouts and opaque directories, and a shallow base left unchecked.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { composeImage } from "../image/compose";
import { buildLayer, type LayerInput, layerFromDescriptor } from "../layer/build";
import { libraryDirs, missingLibraries } from "./shared-libraries";

const tmp = mkdtempSync(join(tmpdir(), "rp-shared-libs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function imageOf(architecture: string, ...layers: LayerInput[][]) {
  const built = [];
  for (const files of layers) {
    const p = join(tmp, `l${n++}.tar.gz`);
    built.push({ layer: layerFromDescriptor(p, await buildLayer(files, p)), createdBy: "test" });
  }
  return composeImage({ layers: built, env: {}, architecture });
}

const lib = (dest: string): LayerInput => ({ dest, content: Buffer.from("ELF"), mode: 0o644 });
const link = (dest: string, symlink: string): LayerInput => ({ dest, symlink });
const NEEDED = ["libatomic.so.1", "libstdc++.so.6", "libc.so.6", "ld-linux-x86-64.so.2"];

test("merged /usr (lib -> usr/lib), versioned links and /lib64: everything found", async () => {
  const img = await imageOf("amd64", [
    link("/lib", "usr/lib"),
    link("/lib64", "usr/lib64"),
    lib("/usr/lib/x86_64-linux-gnu/libc.so.6"),
    lib("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"),
    link("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "libstdc++.so.6.0.30"),
    lib("/usr/lib/x86_64-linux-gnu/libatomic.so.1.2.0"),
    link("/usr/lib/x86_64-linux-gnu/libatomic.so.1", "/usr/lib/x86_64-linux-gnu/libatomic.so.1.2.0"),
    link("/usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/libc.so.6"),
  ]);
  expect(await missingLibraries(img, NEEDED)).toEqual([]);
});

test("what is absent, removed by a whiteout or hidden by an opaque directory is missing; a dangling link too", async () => {
  const img = await imageOf(
    "amd64",
    [
      lib("/lib/x86_64-linux-gnu/libc.so.6"),
      lib("/lib/x86_64-linux-gnu/libstdc++.so.6"),
      lib("/usr/lib/libatomic.so.1"),
      lib("/lib64/ld-linux-x86-64.so.2"),
    ],
    [
      { dest: "/usr/lib/.wh.libatomic.so.1", content: Buffer.alloc(0), mode: 0o644 },
      { dest: "/lib64/.wh..wh..opq", content: Buffer.alloc(0), mode: 0o644 },
      link("/usr/local/lib/libstdc++.so.6", "/nowhere/libstdc++.so.6"),
    ],
  );
  expect(await missingLibraries(img, NEEDED)).toEqual(["libatomic.so.1", "ld-linux-x86-64.so.2"]);
});

test("a symlink loop is not a library; arm64 looks under aarch64-linux-gnu, a directory reached by a link", async () => {
  const img = await imageOf("arm64", [
    link("/lib/a", "b"),
    link("/lib/b", "a"),
    link("/lib/libloop.so.1", "a/x"),
    link("/usr/lib/aarch64-linux-gnu", "/opt/arm"),
    lib("/opt/arm/libatomic.so.1"),
  ]);
  expect(await missingLibraries(img, ["libloop.so.1", "libatomic.so.1"])).toEqual(["libloop.so.1"]);
  expect(libraryDirs("arm64")[0]).toBe("lib/aarch64-linux-gnu");
});
