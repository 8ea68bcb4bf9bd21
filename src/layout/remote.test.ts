import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { parseDigest } from "../oci/digest";
import { readLayout } from "./read";
import {
  BAZEL_CACHE_SOURCE,
  markRemote,
  REMOTE_BLOBS_FILE,
  readRemoteBlobs,
  remoteBlobsJson,
  remoteSourcesOf,
  withLayersInBazelCache,
} from "./remote";
import { layoutBlobs, writeLayout } from "./write";

const tmp = mkdtempSync(join(tmpdir(), "rp-remote-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SOURCE = "r.example.com/team/base@sha256:" + "a".repeat(64);

describe("shallow layouts (pipeline-remote-blobs.json)", () => {
  it("a layout written from remote layers holds none of them, records them, and reads back as remote", async () => {
    const image = randomImage({ layers: 2 });
    const shallow = { ...image, layers: image.layers.map((l) => markRemote({ ...l }, [SOURCE])) };
    const dir = join(tmp, "a");
    await writeLayout(dir, shallow);
    expect(readdirSync(join(dir, "blobs/sha256"))).toHaveLength(2); // manifest and config
    const back = readLayout(dir);
    expect(back.digest).toBe(image.digest);
    expect(back.layers.map((l) => remoteSourcesOf(l))).toEqual([[SOURCE], [SOURCE]]);
    expect(back.layers.every((l) => l.path === undefined)).toBe(true);
    await expect(
      new Promise((resolve, reject) => back.layers[0].open().on("error", reject).on("end", resolve).resume()),
    ).rejects.toThrow(`layer ${image.layers[0].digest} is not in this layout (a shallow base): it is in ${SOURCE}`);

    // Written again (an image on this base): the record goes on, byte for byte.
    const again = join(tmp, "b");
    await writeLayout(again, back);
    expect(readFileSync(join(again, REMOTE_BLOBS_FILE), "utf8")).toBe(
      readFileSync(join(dir, REMOTE_BLOBS_FILE), "utf8"),
    );
  });

  it("withLayersInBazelCache: the push layout holds no layer, records the held ones as in the Bazel cache and a shallow base's where they were; same digest", async () => {
    const image = randomImage({ layers: 3 });
    const mixed = { ...image, layers: [markRemote({ ...image.layers[0] }, [SOURCE]), ...image.layers.slice(1)] };
    const dir = join(tmp, "push");
    await writeLayout(dir, withLayersInBazelCache(mixed));
    expect(readdirSync(join(dir, "blobs/sha256")).sort()).toEqual(
      [image.digest, image.manifest.config.digest].map((d) => d.slice("sha256:".length)).sort(),
    );
    const back = readLayout(dir);
    expect(back.digest).toBe(image.digest);
    expect(back.layers.map((l) => remoteSourcesOf(l))).toEqual([[SOURCE], [BAZEL_CACHE_SOURCE], [BAZEL_CACHE_SOURCE]]);
    // The image given is untouched: its held layers are still local.
    expect(mixed.layers.slice(1).map((l) => remoteSourcesOf(l))).toEqual([undefined, undefined]);
  });

  it("the record is sorted by digest and merges sources: the same blobs give the same bytes", () => {
    const b = { mediaType: "m", size: 1 };
    const d1 = parseDigest(`sha256:${"1".repeat(64)}`, "test");
    const d2 = parseDigest(`sha256:${"2".repeat(64)}`, "test");
    const x = remoteBlobsJson([
      { ...b, digest: d2, sources: ["s1"] },
      { ...b, digest: d1, sources: ["s1"] },
      { ...b, digest: d2, sources: ["s2"] },
    ]);
    expect(JSON.parse(x).blobs.map((e: { digest: string; sources: string[] }) => [e.digest, e.sources])).toEqual([
      [d1, ["s1"]],
      [d2, ["s1", "s2"]],
    ]);
  });

  it("a local blob wins over a remote one with the same digest", () => {
    const image = randomImage({ layers: 1 });
    const remote = markRemote({ ...image.layers[0] }, [SOURCE]);
    const blobs = layoutBlobs({ ...image, layers: [remote, image.layers[0]] });
    expect(blobs.filter((x) => x.digest === remote.digest).map((x) => remoteSourcesOf(x))).toEqual([undefined]);
  });

  it("a malformed record is E_LAYOUT naming the file and the entry", () => {
    const dir = join(tmp, "bad");
    const image = randomImage({ layers: 1 });
    return writeLayout(dir, image).then(() => {
      writeFileSync(join(dir, REMOTE_BLOBS_FILE), "{");
      expect(() => readRemoteBlobs(dir)).toThrow(`${REMOTE_BLOBS_FILE}: not valid JSON`);
      writeFileSync(join(dir, REMOTE_BLOBS_FILE), JSON.stringify({ mediaType: "x", blobs: [] }));
      expect(() => readRemoteBlobs(dir)).toThrow("mediaType must be");
      const mt = "application/vnd.rules-pipeline.remote-blobs.v1+json";
      writeFileSync(join(dir, REMOTE_BLOBS_FILE), JSON.stringify({ mediaType: mt, blobs: [{ digest: "nope" }] }));
      expect(() => readRemoteBlobs(dir)).toThrow("blobs[0] needs mediaType, a sha256 digest");
    });
  });
});
