/**
 * Hostile OCI layout directories (issue 24 item 8) through the real CLI, each in its own process (a bad read used to
 * abort Node): files that are not regular files, files too large to be what they claim, and a layer blob that is a
 * symlink to a secret. Each case asserts exit 1, the stable code, the file named, and no byte of the file in the
 * output.
 *
 * Cases (7):
 *   1 index.json is a symlink to /dev/zero          2 the config blob is a symlink to /dev/zero
 *   3 index.json is 5 MiB                           4 a layer blob is a symlink to a secret file of the right size
 *   5 a 300-byte path component: verify-image and run refuse it alike (E_LAYER_UNSAFE), not ENAMETOOLONG mid-run
 *   6 names that are not UTF-8 (bad\xff1, bad\xfe1): refused (E_TAR_READ), not collapsed into one file
 *   7 a config whose diff_id is not a digest: verify-image and run refuse it alike (E_LAYOUT naming the field)
 */
import { mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { composeImage } from "../../src/image/compose";
import type { Image } from "../../src/oci/model";
import { blobPath } from "../../src/layout/read";
import { writeLayout } from "../../src/layout/write";
import { type Digest, sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { rawTar } from "../corpus/raw-tar";
import { pipelineCli, runCli } from "../fixtures/cli";

const tmp = mkdtempSync(join(tmpdir(), "rp-e2e-bad-layout-"));
const SECRET = Buffer.from("SECRET".repeat(200)); // any 4 bytes of it contain one of the windows below
const LEAK = /SECR|ECRE|CRET|RETS|ETSE|TSEC/;

afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => void (await pipelineCli()));

/** A one-layer layout whose layer's bytes are `bytes`; returns the directory and the image. */
async function layout(name: string, bytes: Buffer) {
  const layer = {
    digest: sha256(bytes),
    diffId: sha256(bytes),
    size: bytes.length,
    mediaType: MediaType.OCI_LAYER,
    open: () => Readable.from([bytes]),
  };
  const image = composeImage({
    layers: [{ layer, createdBy: "x" }],
    entrypoint: ["/bin/true"],
    os: "linux",
    architecture: "amd64",
  });
  const dir = join(tmp, name);
  await writeLayout(dir, image, { refName: "latest" });
  return { dir, image };
}

/** The layout's config rewritten by `edit` (under its new digest), the manifest and index.json following it. */
function editConfig(dir: string, image: Image, edit: (config: Record<string, unknown>) => void): Digest {
  const config = JSON.parse(image.configBytes.toString());
  edit(config);
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = {
    ...image.manifest,
    config: { ...image.manifest.config, digest: sha256(configBytes), size: configBytes.length },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  writeFileSync(blobPath(dir, sha256(configBytes)), configBytes);
  writeFileSync(blobPath(dir, sha256(manifestBytes)), manifestBytes);
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: image.mediaType, digest: sha256(manifestBytes), size: manifestBytes.length }],
  };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index));
  return sha256(configBytes);
}

function replaceWithLink(path: string, target: string): void {
  unlinkSync(path);
  symlinkSync(target, path);
}

async function verify(dir: string) {
  const r = await runCli(["verify-image", `oci:${dir}`]);
  expect(r.code).toBe(1);
  expect(r.stderr).not.toMatch(LEAK);
  expect(r.stderr).not.toContain("    at ");
  return r.stderr;
}

describe("hostile layout files", () => {
  test("1 index.json -> /dev/zero: E_LAYOUT, not a regular file", async () => {
    const { dir } = await layout("l1", rawTar([{ name: "a", data: "a" }]));
    replaceWithLink(join(dir, "index.json"), "/dev/zero");
    const err = await verify(dir);
    expect(err).toContain("error[E_LAYOUT]");
    expect(err).toContain("index.json");
    expect(err).toContain("not a regular file");
  });

  test("2 config blob -> /dev/zero: E_LAYOUT naming the blob", async () => {
    const { dir, image } = await layout("l2", rawTar([{ name: "a", data: "a" }]));
    replaceWithLink(blobPath(dir, image.manifest.config.digest), "/dev/zero");
    const err = await verify(dir);
    expect(err).toContain("error[E_LAYOUT]");
    expect(err).toContain(image.manifest.config.digest);
    expect(err).toContain("not a regular file");
  });

  test("3 a 5 MiB index.json: E_LAYOUT naming the file and the cap", async () => {
    const { dir } = await layout("l3", rawTar([{ name: "a", data: "a" }]));
    writeFileSync(join(dir, "index.json"), `{"schemaVersion":2,"manifests":[]}${" ".repeat(5 * 2 ** 20)}`);
    const err = await verify(dir);
    expect(err).toContain("error[E_LAYOUT]");
    expect(err).toContain("index.json");
    expect(err).toContain("4.0 MiB");
  });

  test("4 layer blob -> a secret file of the manifest's size: refused without a byte of it in the message", async () => {
    const secret = join(tmp, "shadow");
    writeFileSync(secret, SECRET, { mode: 0o600 });
    const { dir, image } = await layout("l4", SECRET);
    replaceWithLink(blobPath(dir, image.layers[0].digest), secret);
    const err = await verify(dir);
    expect(err).toContain("error[E_TAR_READ]");
    const run = await runCli(["run", "--image", `oci:${dir}`, "--cache-dir", join(tmp, "cache")]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("error[E_TAR_READ]");
    expect(run.stderr).not.toMatch(LEAK);
  });
});

describe("hostile names", () => {
  async function both(dir: string, code: string, words: string) {
    const v = await runCli(["verify-image", `oci:${dir}`]);
    const r = await runCli(["run", "--image", `oci:${dir}`, "--cache-dir", join(tmp, "cache")]);
    for (const x of [v, r]) {
      expect(x.code).toBe(1);
      expect(x.stderr).toContain(`error[${code}]`);
      expect(x.stderr).toContain(words);
    }
  }

  test("5 a 300-byte path component: the same refusal from verify-image and run", async () => {
    const { dir } = await layout(
      "l5",
      rawTar([
        { name: "ok", type: "5" },
        { name: `ok/${"n".repeat(300)}`, data: "x" },
      ]),
    );
    await both(dir, "E_LAYER_UNSAFE", "has a component of 300 bytes");
  });

  test("6 names that are not UTF-8: refused, not collapsed into one file", async () => {
    const two = Buffer.concat([
      rawTar([{ name: "badX1", data: "1" }], { end: false }),
      rawTar([{ name: "badY1", data: "2" }]),
    ]);
    two[3] = 0xff; // badX1 -> bad\xff1
    two[512 + 512 + 3] = 0xfe; // badY1 -> bad\xfe1 (each one-byte file is a header and one block)
    const fix = (b: Buffer, at: number) => {
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[at + i];
      b.write(sum.toString(8).padStart(6, "0") + "\0 ", at + 148, 8, "latin1");
    };
    fix(two, 0);
    fix(two, 1024);
    const { dir } = await layout("l6", two);
    await both(dir, "E_TAR_READ", "is not valid UTF-8");
  });
});

describe("hostile configs", () => {
  test("7 a diff_id that is not a digest: the same refusal from verify-image and run, naming the field and value", async () => {
    const { dir, image } = await layout("l7", rawTar([{ name: "a", data: "a" }]));
    const bad = "sha256:../../../etc/passwd";
    const digest = editConfig(dir, image, (c) => {
      c.rootfs = { type: "layers", diff_ids: [bad] };
    });
    for (const argv of [
      ["verify-image", `oci:${dir}`],
      ["run", "--image", `oci:${dir}`, "--cache-dir", join(tmp, "cache")],
    ]) {
      const r = await runCli(argv);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("error[E_LAYOUT]");
      expect(r.stderr).toContain(`OCI layout ${dir}: config ${digest}: rootfs.diff_ids[0]: expected a digest`);
      expect(r.stderr).toContain(JSON.stringify(bad));
      expect(r.stderr).not.toContain("    at ");
    }
  });
});
