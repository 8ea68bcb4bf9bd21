import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomImage } from "../../test/fixtures/random-image";
import { composeImage } from "../image/compose";
import type { Image } from "../oci/model";
import { readTarEntries } from "../layer/tar-read";
import { readLayout } from "../layout/read";
import { writeLayout } from "../layout/write";
import { resolveRepoTags, taggedImages } from "./load";
import { writeDockerArchive } from "./write";

let tmp: string;
let a: Image;
let b: Image;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "rp-tarball-"));
  // Two images read back from OCI layouts on disk, the second on top of the first (they share its layers).
  await writeLayout(join(tmp, "a"), randomImage({ layers: 2, dir: join(tmp, "blobs-a") }), { refName: "latest" });
  a = readLayout(join(tmp, "a"));
  const extra = randomImage({ layers: 1, dir: join(tmp, "blobs-b") }).layers[0];
  await writeLayout(join(tmp, "b"), composeImage({ base: a, layers: [{ layer: extra, createdBy: "test" }] }), {
    refName: "latest",
  });
  b = readLayout(join(tmp, "b"));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function entries(file: string) {
  const out: { path: string; type: string; mode: number; mtime: number; uid: number; gid: number; data: Buffer }[] = [];
  for await (const e of readTarEntries(createReadStream(file))) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    out.push({
      path: e.path,
      type: e.type,
      mode: e.mode,
      mtime: e.mtime,
      uid: e.uid,
      gid: e.gid,
      data: Buffer.concat(chunks),
    });
  }
  return out;
}

const hex = (d: string) => d.slice("sha256:".length);
const sha = (b: Buffer) => "sha256:" + createHash("sha256").update(b).digest("hex");

describe("docker archive writer", () => {
  it("writes manifest.json (Config, RepoTags, Layers) and each blob once, under its digest, byte for byte", async () => {
    const out = join(tmp, "two.tar");
    await writeDockerArchive(out, [
      { image: a, repoTags: ["localhost:5000/x/a:latest"] },
      { image: b, repoTags: ["localhost:5000/x/a:latest-b", "example.com/b:1"] },
    ]);
    const list = await entries(out);
    const manifest = JSON.parse(list.find((e) => e.path === "manifest.json")!.data.toString("utf8"));
    expect(manifest).toEqual([
      {
        Config: `blobs/sha256/${hex(a.configBlob.digest)}`,
        RepoTags: ["localhost:5000/x/a:latest"],
        Layers: a.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
      },
      {
        Config: `blobs/sha256/${hex(b.configBlob.digest)}`,
        RepoTags: ["localhost:5000/x/a:latest-b", "example.com/b:1"],
        Layers: b.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
      },
    ]);
    // b has a's two layers plus one: 3 distinct layers and 2 configs, each stored once, with exactly its bytes.
    const blobs = list.filter((e) => e.type === "file" && e.path.startsWith("blobs/"));
    expect(blobs).toHaveLength(5);
    for (const e of blobs) expect(sha(e.data)).toBe("sha256:" + e.path.split("/").pop());
    const layer0 = blobs.find((e) => e.path.endsWith(hex(a.layers[0].digest)))!;
    expect(layer0.data.equals(readFileSync(a.layers[0].path!))).toBe(true); // gzip, as in the layout
    // Sorted, no host facts.
    const paths = list.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(paths[0]).toBe("blobs/");
    for (const e of list) {
      expect([e.mtime, e.uid, e.gid]).toEqual([0, 0, 0]);
      expect(e.mode).toBe(e.type === "dir" ? 0o755 : 0o644);
    }
    expect(readdirSync(tmp).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("is reproducible: the same images and tags give the same bytes; other tags give other bytes", async () => {
    const images = [{ image: b, repoTags: ["localhost/b:1"] }];
    await writeDockerArchive(join(tmp, "r1.tar"), images);
    await writeDockerArchive(join(tmp, "r2.tar"), [{ image: readLayout(join(tmp, "b")), repoTags: ["localhost/b:1"] }]);
    await writeDockerArchive(join(tmp, "r3.tar"), [{ image: b, repoTags: ["localhost/b:2"] }]);
    const [r1, r2, r3] = ["r1", "r2", "r3"].map((n) => readFileSync(join(tmp, `${n}.tar`)));
    expect(r1.equals(r2)).toBe(true);
    expect(r1.equals(r3)).toBe(false);
  });

  it("fails with a PipelineError when a layer file is gone, leaving no file behind", async () => {
    const broken = {
      ...b,
      layers: [...b.layers.slice(0, -1), { ...b.layers[b.layers.length - 1], path: join(tmp, "missing") }],
    };
    const out = join(tmp, "broken.tar");
    await expect(
      writeDockerArchive(out, [{ image: broken as Image, repoTags: ["localhost/b:1"] }]),
    ).rejects.toMatchObject({ name: "PipelineError" });
    expect(readdirSync(tmp).filter((n) => n.startsWith("broken.tar"))).toEqual([]);
  });
});

describe("repo tags", () => {
  it("takes REGISTRY/REPOSITORY:TAG as given and puts a bare TAG on the default repository", () => {
    expect(resolveRepoTags(["dev", "ghcr.io/o/r:1", "dev"], ["localhost:5000/examples/hello:latest"], "--tag")).toEqual(
      ["localhost:5000/examples/hello:dev", "ghcr.io/o/r:1"],
    );
  });

  it("rejects a reference without a tag, with a digest, or a bare tag with no default, naming the flag", () => {
    expect(() => resolveRepoTags(["localhost:5000/x"], [], "--tag")).toThrow(
      /--tag: expected REGISTRY\/REPOSITORY:TAG.*localhost:5000\/x/,
    );
    expect(() => resolveRepoTags([`localhost:5000/x:1@sha256:${"a".repeat(64)}`], [], "--tag")).toThrow(/--tag/);
    expect(() => resolveRepoTags(["dev"], [], "--default-tag")).toThrow(/--default-tag: "dev" is a bare tag/);
    expect(() => resolveRepoTags(["bad tag!"], ["localhost/x:1"], "--tag")).toThrow(/--tag/);
  });

  it("gives the main image the tags and every other image TAG-NAME", () => {
    const tagged = taggedImages(
      [
        { name: "cuda", image: b },
        { name: "default", image: a },
      ],
      ["localhost:5000/x:latest", "localhost:5000/x:v1"],
    );
    expect(tagged.map((t) => t.repoTags)).toEqual([
      ["localhost:5000/x:latest-cuda", "localhost:5000/x:v1-cuda"],
      ["localhost:5000/x:latest", "localhost:5000/x:v1"],
    ]);
  });
});
