import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { pushBlob, type TempRegistry, tempRegistry } from "../devregistry/testing";
import { markRemote } from "../layout/remote";
import { digestHex } from "../oci/digest";
import type { Image } from "../oci/model";
import { PipelineError } from "../errors";
import type { ProgressSink } from "../registry/progress";
import { withCachedLayers } from "./cached-layers";

// A real registry (the dev registry, in-process on a loopback port) holds the base's layers; the image's own layers
// are files. The cache is a fresh directory per case.
let tmp: string;
let reg: TempRegistry;
let base: Image;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-cached-layers-"));
  reg = await tempRegistry();
  base = randomImage({ layers: 3, layerSize: 2048, dir: join(tmp, "base-blobs") });
  for (const l of base.layers.slice(0, 2)) await pushBlob(reg.address, "bases/b", readFileSync(l.path!));
});

afterAll(async () => {
  await reg?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const source = () => `${reg.address}/bases/b@sha256:${"e".repeat(64)}`;

/** A shallow image: the base's first two layers recorded as remote (no file), its own layer a file. */
function shallow(layers = base.layers.slice(0, 2)): Image {
  const own = randomImage({ layers: 1, layerSize: 256, dir: join(tmp, "own") }).layers[0];
  return { ...base, layers: [...layers.map((l) => markRemote({ ...l, path: undefined }, [source()])), own] };
}

const opts = (cacheDir: string) => ({ cacheDir, keychain: anonymousKeychain });

describe("withCachedLayers: a shallow base's layers fetched once into the cache, for sinks that need files", () => {
  it("fetches each missing layer into blobs/<hex>, byte for byte; the next call needs no registry at all", async () => {
    const cache = join(tmp, "c1");
    const image = shallow();
    const seen: string[] = [];
    const progress: ProgressSink = {
      blobStart: (d) => seen.push(`start ${d}`),
      blobProgress: () => undefined,
      blobDone: (d, outcome) => seen.push(`${outcome} ${d}`),
      skip: (d, reason) => seen.push(`skip ${d} ${reason}`),
    };
    const [out] = await withCachedLayers([image], { ...opts(cache), progress });
    const [l0, l1] = base.layers.map((l) => l.digest);
    expect(seen).toEqual([`start ${l0}`, `downloaded ${l0}`, `start ${l1}`, `downloaded ${l1}`]);
    for (const [k, l] of base.layers.slice(0, 2).entries()) {
      expect(out.layers[k].path).toBe(join(cache, "blobs", digestHex(l.digest)));
      expect(readFileSync(out.layers[k].path!)).toEqual(readFileSync(l.path!));
      expect(out.layers[k].diffId).toBe(l.diffId);
    }
    expect(out.layers[2]).toBe(image.layers[2]); // a local layer is left as it is
    expect(readdirSync(join(cache, "blobs")).filter((n) => !n.startsWith("."))).toHaveLength(2);

    // With the registry unreachable (a port nothing listens on), the cache alone answers.
    const gone = markRemote({ ...base.layers[0], path: undefined }, [`127.0.0.1:1/bases/b@sha256:${"e".repeat(64)}`]);
    seen.length = 0;
    const [again] = await withCachedLayers([{ ...image, layers: [gone] }], { ...opts(cache), progress });
    expect(seen).toEqual([`skip ${l0} in the cache`]);
    expect(readFileSync(again.layers[0].path!)).toEqual(readFileSync(base.layers[0].path!));
  });

  it("one layer shared by two images is fetched once; images without remote layers come back as they are", async () => {
    const cache = join(tmp, "c2");
    const local = randomImage({ layers: 1 });
    const [a, b, c] = await withCachedLayers([shallow(), shallow(), local], opts(cache));
    expect(a.layers[0].path).toBe(b.layers[0].path);
    expect(c).toBe(local);
  });

  it("a layer no source has fails E_BASE_LAYER_MISSING naming it and where it asked; nothing is left in the cache", async () => {
    const cache = join(tmp, "c3");
    const image = shallow([base.layers[2]]); // never pushed
    const err = await withCachedLayers([image], opts(cache)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe("E_BASE_LAYER_MISSING");
    expect((err as Error).message).toContain(base.layers[2].digest);
    expect((err as Error).message).toContain(`asked ${reg.address}/bases/b (not found)`);
    expect(existsSync(join(cache, "blobs", digestHex(base.layers[2].digest)))).toBe(false);
    expect(readdirSync(join(cache, "blobs")).filter((n) => !n.startsWith(".state"))).toEqual([]);
  });
});
