import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { scratchDir } from "../../test/fixtures/scratch";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { composeImage } from "../image/compose";
import { bufferBlob } from "../layer/blob";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { readLayout } from "./read";
import { writeLayout } from "./write";

function tinyImage(text: string) {
  const bytes = Buffer.from(text);
  const layer = { ...bufferBlob(bytes, MediaType.OCI_LAYER), diffId: sha256(bytes) };
  return composeImage({
    layers: [{ layer, createdBy: "test" }],
    entrypoint: ["node", "/app/main.js"],
    workdir: "/app",
  });
}

describe("writeLayout", () => {
  test("writes a layout that reads back to the same digest, config and layers", async () => {
    const dir = join(scratchDir("rp-layout-"), "out");
    const img = tinyImage("layer bytes");
    await writeLayout(dir, img, { refName: "latest" });
    expect(JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const back = readLayout(dir, { refName: "latest" });
    expect(back.digest).toBe(img.digest);
    expect(back.config.config?.Entrypoint).toEqual(["node", "/app/main.js"]);
    expect(back.layers.map((l) => l.diffId)).toEqual(img.layers.map((l) => l.diffId));
  });

  test("atomic mode replaces an existing layout but refuses a directory that is not one", async () => {
    const parent = scratchDir("rp-layout-");
    const layout = join(parent, "layout");
    await writeLayout(layout, tinyImage("one"), { atomic: true });
    await writeLayout(layout, tinyImage("two"), { atomic: true });
    expect(readLayout(layout).digest).toBe(tinyImage("two").digest);
    expect(readdirSync(parent)).toEqual(["layout"]); // no temporary directory left behind

    const precious = join(parent, "precious");
    mkdirSync(precious);
    writeFileSync(join(precious, "notes.txt"), "keep me");
    await expect(writeLayout(precious, tinyImage("x"), { atomic: true })).rejects.toThrow(
      /refusing to replace .*precious/,
    );
    expect(readFileSync(join(precious, "notes.txt"), "utf8")).toBe("keep me");
  });

  test("atomic mode reads the new layout back before it replaces the old one: one that does not read back leaves the old one whole (issue #72)", async () => {
    const parent = scratchDir("rp-layout-");
    const layout = join(parent, "layout");
    const good = tinyImage("good");
    await writeLayout(layout, good, { atomic: true });
    // A manifest with no layer while its config lists one diff_id: written fine, refused by every later read.
    const bad = tinyImage("bad");
    const manifestBytes = Buffer.from(JSON.stringify({ ...bad.manifest, layers: [] }));
    const unreadable = { ...bad, manifestBytes, digest: sha256(manifestBytes), layers: [] };
    const e = await writeLayout(layout, unreadable, { atomic: true }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "E_LAYOUT" });
    expect((e as Error).message).toContain(`OCI layout ${layout}: the layout written for it does not read back`);
    expect((e as Error).message).toContain("config lists 1 diff_ids but the manifest has 0 layers");
    expect(readLayout(layout).digest).toBe(good.digest);
    expect(readdirSync(parent)).toEqual(["layout"]);
  });

  test("a blob whose content does not match its digest is rejected and nothing is left under its name", async () => {
    const dir = join(scratchDir("rp-layout-"), "out");
    const img = tinyImage("real");
    const liar = {
      ...img.layers[0],
      open: () => bufferBlob(Buffer.from("fake"), MediaType.OCI_LAYER).open(),
      path: undefined,
    };
    await expect(writeLayout(dir, { ...img, layers: [liar] }, { atomic: true })).rejects.toThrow(
      /does not match|E_DIGEST_MISMATCH|digest/,
    );
    expect(() => readdirSync(dir)).toThrow();
  });
});

describe("writeLayout with blobs behind symlinks (as in Bazel's sandbox)", () => {
  test("blobs are regular files (hard links to the real file), never symlinks", async () => {
    const { symlinkSync, lstatSync, statSync } = await import("node:fs");
    const { fileLayer } = await import("../layer/blob.js");
    const parent = scratchDir("rp-layout-");
    const bytes = Buffer.from("layer behind a symlink");
    writeFileSync(join(parent, "real.tar"), bytes);
    symlinkSync(join(parent, "real.tar"), join(parent, "link.tar"));
    const layer = fileLayer(join(parent, "link.tar"), {
      digest: sha256(bytes),
      size: bytes.length,
      mediaType: MediaType.OCI_LAYER,
      diffId: sha256(bytes),
    });
    const img = composeImage({ layers: [{ layer, createdBy: "test" }] });
    await writeLayout(join(parent, "out"), img);
    const blob = join(parent, "out", "blobs", "sha256", sha256(bytes).slice(7));
    expect(lstatSync(blob).isSymbolicLink()).toBe(false);
    expect(statSync(blob).ino).toBe(statSync(join(parent, "real.tar")).ino);
  });
});
