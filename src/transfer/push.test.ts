import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { anonymousKeychain } from "../registry-auth/anonymous";
import { type TempRegistry, tempRegistry, request } from "../devregistry/testing";
import { writeLayout } from "../layout/write";
import { silentProgress } from "../registry/progress";
import { composeImage } from "../image/compose";
import { tagsFor } from "../image/tags";
import { pushLayouts } from "./push";

// A real registry (the dev registry, in-process on a loopback port) and two real OCI layouts on disk.
let dir: string;
let reg: TempRegistry;
const digests: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rp-push-layouts-"));
  reg = await tempRegistry();
  for (const name of ["cuda", "default", "zeta"]) {
    const image = randomImage({ layers: 1, layerSize: 64, dir: join(dir, `blobs-${name}`) });
    await writeLayout(join(dir, name), image);
    digests[name] = image.digest;
  }
});

afterAll(async () => {
  await reg?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function tagsOf(repository: string): Promise<Record<string, string>> {
  const list = (await request(reg.address, "GET", `/v2/${repository}/tags/list`)).json<{ tags: string[] }>().tags;
  const out: Record<string, string> = {};
  for (const tag of list)
    out[tag] = String(
      (await request(reg.address, "HEAD", `/v2/${repository}/manifests/${tag}`)).headers["docker-content-digest"],
    );
  return out;
}

describe('pushLayouts: the main image is the one named "default"', () => {
  it('in the launcher\'s order (names sorted, "cuda" before "default"): default gets the tags, every other image <tag>-<name>', async () => {
    const images = ["cuda", "default", "zeta"].map((name) => ({ name, layoutDir: join(dir, name) }));
    const meta = await pushLayouts(images, { registry: reg.address, repository: "team/app" }, ["v1", "latest"], {
      keychain: anonymousKeychain,
      insecure: false,
      progress: silentProgress,
    });
    expect(meta.name).toBe("default");
    expect(meta.digest).toBe(digests.default);
    expect(meta.reference).toBe(`${reg.address}/team/app@${digests.default}`);
    expect([...meta.tags].sort()).toEqual(["latest", "v1"]);
    expect([...meta.images.cuda.tags].sort()).toEqual(["latest-cuda", "v1-cuda"]);
    expect([...meta.images.zeta.tags].sort()).toEqual(["latest-zeta", "v1-zeta"]);
    expect(Object.keys(meta.images).sort()).toEqual(["cuda", "default", "zeta"]);
    // What the registry holds, not only what pushLayouts says.
    expect(await tagsOf("team/app")).toEqual({
      v1: digests.default,
      latest: digests.default,
      "v1-cuda": digests.cuda,
      "latest-cuda": digests.cuda,
      "v1-zeta": digests.zeta,
      "latest-zeta": digests.zeta,
    });
  });

  it('without an image named "default", the first one is the main image', async () => {
    const images = ["zeta", "cuda"].map((name) => ({ name, layoutDir: join(dir, name) }));
    const meta = await pushLayouts(images, { registry: reg.address, repository: "team/other" }, ["v2"], {
      keychain: anonymousKeychain,
      insecure: false,
      progress: silentProgress,
    });
    expect(meta.name).toBe("zeta");
    expect(await tagsOf("team/other")).toEqual({ v2: digests.zeta, "v2-cuda": digests.cuda });
  });
});

describe("pushLayouts: images that share layers (a pipeline's `bases`) upload each blob once", () => {
  it("the second image's shared layers are found in the registry, not uploaded again", async () => {
    const shared = randomImage({ layers: 2, layerSize: 64, dir: join(dir, "blobs-shared") });
    const own = randomImage({ layers: 1, layerSize: 64, dir: join(dir, "blobs-own") });
    await writeLayout(join(dir, "first"), shared);
    await writeLayout(
      join(dir, "second"),
      composeImage({ base: shared, layers: [{ layer: own.layers[0], createdBy: "own" }] }),
    );
    const meta = await pushLayouts(
      [
        { name: "default", layoutDir: join(dir, "first") },
        { name: "alt", layoutDir: join(dir, "second") },
      ],
      { registry: reg.address, repository: "team/shared" },
      ["v1"],
      { keychain: anonymousKeychain, insecure: false, progress: silentProgress },
    );
    // The first image: its config and 2 layers. The second: only what the first did not put there.
    expect(meta.images.default.uploaded.blobs).toBe(3);
    expect(meta.images.alt.uploaded.blobs).toBe(2); // its own layer and its config (the manifest differs)
    expect(meta.images.alt.skipped).toBe(2);
  });
});

describe("tagsFor", () => {
  it("gives the main image the tags and another image <tag>-<name>, in order", () => {
    expect(tagsFor("default", ["v1", "latest"], true)).toEqual(["v1", "latest"]);
    expect(tagsFor("cuda", ["v1", "latest"], false)).toEqual(["v1-cuda", "latest-cuda"]);
    expect(tagsFor("cuda", [], false)).toEqual([]);
  });
});
