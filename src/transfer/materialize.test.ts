import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { composeImage } from "../image/compose";
import { composeIndex } from "../image/image-index";
import { useFakeServers } from "../../test/fixtures/fake-servers";
import { pushBlob, type TempRegistry, tempRegistry } from "../devregistry/testing";
import { readLayout, readLayoutIndex } from "../layout/read";
import { markRemote, REMOTE_BLOBS_FILE } from "../layout/remote";
import { writeLayout } from "../layout/write";
import { digestHex } from "../oci/digest";
import type { Image } from "../oci/model";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { materializeLayout } from "./materialize";

// The base's layers are in a real registry (the dev registry, in-process); a shallow layout records them there.
let tmp: string;
let reg: TempRegistry;
let base: Image;
const serve = useFakeServers();

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-materialize-"));
  reg = await tempRegistry();
  base = randomImage({ layers: 2, layerSize: 4096, dir: join(tmp, "base-blobs") });
  for (const l of base.layers) await pushBlob(reg.address, "bases/b", readFileSync(l.path!));
});

afterAll(async () => {
  await reg?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

/** A shallow layout in `dir`: the base's layers recorded at `registry`, not held. */
async function shallowLayout(dir: string, registry = reg.address): Promise<Image> {
  const source = `${registry}/bases/b@sha256:${"e".repeat(64)}`;
  await writeLayout(
    dir,
    { ...base, layers: base.layers.map((l) => markRemote({ ...l, path: undefined }, [source])) },
    { refName: "latest" },
  );
  return readLayout(dir);
}

const opts = { keychain: anonymousKeychain };
const sha = (file: string) => `sha256:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

describe("materializeLayout: a shallow layout written whole", () => {
  it("fetches the layers it lacks; index.json and manifest are the same bytes; no record is left", async () => {
    const src = join(tmp, "shallow");
    const shallow = await shallowLayout(src);
    const out = join(tmp, "full");
    const done = await materializeLayout(src, out, opts);
    expect(done).toEqual({ digest: shallow.digest, fetched: base.layers.map((l) => l.digest).sort() });
    expect(readFileSync(join(out, "index.json"))).toEqual(readFileSync(join(src, "index.json")));
    expect(existsSync(join(out, REMOTE_BLOBS_FILE))).toBe(false);
    const blobs = readdirSync(join(out, "blobs/sha256"));
    for (const b of blobs) expect(sha(join(out, "blobs/sha256", b))).toBe(`sha256:${b}`);
    const full = readLayout(out);
    expect(full.digest).toBe(shallow.digest);
    expect(full.manifestBytes).toEqual(shallow.manifestBytes);
    for (const l of full.layers) expect(l.path).toBeDefined();
    expect(blobs).toHaveLength(base.layers.length + 2); // the layers, the config, the manifest
  });

  it("a multi-platform layout (an index): each platform's layers, a shared one fetched once; the index unchanged", async () => {
    const source = `${reg.address}/bases/b@sha256:${"e".repeat(64)}`;
    const layers = base.layers.map((l) => ({
      layer: markRemote({ ...l, path: undefined }, [source]),
      createdBy: "base",
    }));
    const index = composeIndex(
      ["amd64", "arm64"].map((architecture) => composeImage({ layers, os: "linux", architecture })),
    );
    const src = join(tmp, "index");
    await writeLayout(src, index);
    const out = join(tmp, "index-full");
    const started: string[] = [];
    const progress = { blobStart: (d: string) => started.push(d), blobProgress() {}, blobDone() {}, skip() {} };
    const done = await materializeLayout(src, out, { ...opts, progress });
    expect(done).toEqual({ digest: index.digest, fetched: base.layers.map((l) => l.digest).sort() });
    expect(started.sort()).toEqual(base.layers.map((l) => l.digest).sort()); // each download once, for both platforms
    expect(readFileSync(join(out, "index.json"))).toEqual(readFileSync(join(src, "index.json")));
    const read = readLayoutIndex(out)!;
    expect(read.bytes).toEqual(index.bytes);
    for (const m of read.manifests) for (const l of m.image.layers) expect(sha(l.path!)).toBe(l.digest);
    expect(existsSync(join(out, REMOTE_BLOBS_FILE))).toBe(false);
  });

  it("a layout that lacks nothing is copied without a request", async () => {
    const src = join(tmp, "full"); // the previous case's output
    const out = join(tmp, "full-again");
    const done = await materializeLayout(src, out, { ...opts, keychain: undefined, insecure: false });
    expect(done.fetched).toEqual([]);
    const blobs = readdirSync(join(src, "blobs/sha256")).sort();
    expect(readdirSync(join(out, "blobs/sha256")).sort()).toEqual(blobs);
    // Layers and config hard-linked, not copied (the same file system); the manifest is written from its bytes.
    const image = readLayout(src);
    for (const b of [...image.layers.map((l) => l.digest), image.configBlob.digest].map(digestHex))
      expect(statSync(join(out, "blobs/sha256", b)).ino).toBe(statSync(join(src, "blobs/sha256", b)).ino);
  });

  it("bytes that do not match the digest fail E_DIGEST_MISMATCH; no output is left", async () => {
    // A registry that answers every blob with other bytes (no real registry does; the check must catch it).
    const liar = await serve((req, res) => {
      if (req.method === "HEAD") res.writeHead(200, { "content-length": "4096" }).end();
      else res.writeHead(200).end(Buffer.alloc(4096, 1));
    });
    const src = join(tmp, "lied");
    await shallowLayout(src, liar.host);
    const out = join(tmp, "lied-full");
    await expect(materializeLayout(src, out, opts)).rejects.toMatchObject({ code: "E_DIGEST_MISMATCH" });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((n) => n.includes("lied-full"))).toEqual([]);
  });

  it("a layer no source has fails E_BASE_LAYER_MISSING naming the layer, the base and where it was asked", async () => {
    const src = join(tmp, "gone");
    await writeLayout(src, {
      ...base,
      layers: base.layers.map((l) =>
        markRemote({ ...l, path: undefined }, [`${reg.address}/bases/other@sha256:${"e".repeat(64)}`]),
      ),
    });
    const out = join(tmp, "gone-full");
    const err = await materializeLayout(src, out, opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_BASE_LAYER_MISSING" });
    expect((err as Error).message).toMatch(
      new RegExp(`layer sha256:[0-9a-f]{64} of base ${reg.address}/bases/other@sha256:e{64} could not be had`),
    );
    expect((err as Error).message).toContain(`asked ${reg.address}/bases/other (not found)`);
    expect(existsSync(out)).toBe(false);
  });
});
