// What a pushed manifest must be (media types by RFC 6838's grammar, the image/index shape), checked at PUT
// with 400 MANIFEST_INVALID naming the field and the JSON-escaped value; and GET/HEAD never answer 500, even
// for a manifest an older registry stored with a bad media type.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import { pushBlob, pushImage, request, type TempRegistry, tempRegistry } from "./testing";

let reg: TempRegistry;
let addr: string;
beforeAll(async () => {
  reg = await tempRegistry();
  addr = reg.address;
});
afterAll(async () => reg.cleanup());

type Errors = { errors: { code: string; message: string; detail?: unknown }[] };
const errors = (body: Buffer): Errors["errors"] => (JSON.parse(body.toString()) as Errors).errors;

function put(repo: string, ref: string, body: Buffer | string, contentType?: string) {
  return request(addr, "PUT", `/v2/${repo}/manifests/${ref}`, {
    body,
    headers: contentType === undefined ? {} : { "Content-Type": contentType },
  });
}

const CRLF_TYPE = `${MediaType.OCI_MANIFEST}\r\nX-Injected: 1`;

/** A valid image manifest's fields, with blobs pushed to `repo`. */
async function imageDoc(
  repo: string,
): Promise<Record<string, unknown> & { config: Record<string, unknown>; layers: Record<string, unknown>[] }> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layer = randomBytes(64);
  await pushBlob(addr, repo, config);
  await pushBlob(addr, repo, layer);
  return {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length }],
  };
}

/** Expects 400 MANIFEST_INVALID whose message holds every `parts`, and that nothing was stored under `tag`. */
async function expectInvalid(
  res: Awaited<ReturnType<typeof put>>,
  repo: string,
  tag: string,
  ...parts: string[]
): Promise<void> {
  expect(res.status, res.body.toString()).toBe(400);
  const [e] = errors(res.body);
  expect(e.code).toBe("MANIFEST_INVALID");
  for (const p of parts) expect(e.message).toContain(p);
  const get = await request(addr, "GET", `/v2/${repo}/manifests/${tag}`);
  expect(get.status).toBe(404);
}

describe("manifest validation at PUT", () => {
  it("a mediaType holding CR/LF is refused, naming the field and the escaped value", async () => {
    const doc = await imageDoc("v/crlf");
    const body = JSON.stringify({ ...doc, mediaType: CRLF_TYPE });
    for (const contentType of [undefined, "application/json", ""]) {
      await expectInvalid(
        await put("v/crlf", "t", body, contentType),
        "v/crlf",
        "t",
        "mediaType",
        JSON.stringify(CRLF_TYPE),
      );
    }
  });

  it("a Content-Type outside the media-type grammar is refused", async () => {
    const doc = await imageDoc("v/ctype");
    for (const ct of ["application/vnd oci", "application/", "nothing", `${MediaType.OCI_MANIFEST}"`]) {
      await expectInvalid(
        await put("v/ctype", "t", JSON.stringify({ ...doc, mediaType: undefined }), ct),
        "v/ctype",
        "t",
        "Content-Type",
      );
    }
    // Parameters after the type are fine.
    expect((await put("v/ctype", "ok", JSON.stringify(doc), `${MediaType.OCI_MANIFEST}; charset=utf-8`)).status).toBe(
      201,
    );
  });

  it("descriptors need a media type in the grammar, a sha256 digest and a size", async () => {
    const doc = await imageDoc("v/desc");
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...doc, layers: [{ ...doc.layers[0], mediaType: "not a type" }] }, "layers[0].mediaType", '"not a type"'],
      [{ ...doc, layers: [{ ...doc.layers[0], mediaType: "a/b\nc" }] }, "layers[0].mediaType", '"a/b\\nc"'],
      [{ ...doc, config: { ...doc.config, mediaType: undefined } }, "config.mediaType", "nothing"],
      [{ ...doc, config: { ...doc.config, digest: "sha256:XYZ" } }, "config.digest", '"sha256:XYZ"'],
      [{ ...doc, layers: [{ ...doc.layers[0], size: -1 }] }, "layers[0].size", "-1"],
      [{ ...doc, layers: "none" }, "layers", '"none"'],
      [{ ...doc, artifactType: "bad\ttype" }, "artifactType", '"bad\\ttype"'],
      [{ ...doc, schemaVersion: 1 }, "schemaVersion", "1"],
    ];
    for (const [bad, field, value] of cases) {
      await expectInvalid(
        await put("v/desc", "t", JSON.stringify(bad), MediaType.OCI_MANIFEST),
        "v/desc",
        "t",
        field,
        value,
      );
    }
    expect((await put("v/desc", "t", JSON.stringify(doc), MediaType.OCI_MANIFEST)).status).toBe(201);
  });

  it("index entries are checked the same way", async () => {
    const a = await pushImage(addr, "v/index", "a", [randomBytes(20)]);
    const index = (mediaType: string) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [{ mediaType, digest: a.digest, size: a.manifest.length }],
      });
    await expectInvalid(
      await put("v/index", "all", index("x\r\ny"), MediaType.OCI_INDEX),
      "v/index",
      "all",
      "manifests[0].mediaType",
      '"x\\r\\ny"',
    );
    expect((await put("v/index", "all", index(MediaType.OCI_MANIFEST), MediaType.OCI_INDEX)).status).toBe(201);
  });

  it("Docker schema 1 and any schemaVersion but 2 are refused, whatever the media type says", async () => {
    // A schema 1 manifest as docker 1.x pushed it: no config, fsLayers instead of layers.
    const layer = randomBytes(32);
    await pushBlob(addr, "v/schema1", layer);
    const schema1 = {
      schemaVersion: 1,
      name: "v/schema1",
      tag: "t",
      architecture: "amd64",
      fsLayers: [{ blobSum: sha256(layer) }],
      history: [{ v1Compatibility: "{}" }],
    };
    const body = JSON.stringify(schema1);
    await expectInvalid(
      await put("v/schema1", "t", body, "application/vnd.docker.distribution.manifest.v1+prettyjws"),
      "v/schema1",
      "t",
      "schema 1",
    );
    await expectInvalid(
      await put("v/schema1", "t", body, "application/vnd.docker.distribution.manifest.v1+json"),
      "v/schema1",
      "t",
      "schema 1",
    );
    for (const contentType of [undefined, "application/json", "application/vnd.example.thing+json"]) {
      await expectInvalid(await put("v/schema1", "t", body, contentType), "v/schema1", "t", "schemaVersion", "1");
    }
    await expectInvalid(
      await put("v/schema1", "t", JSON.stringify({ ...schema1, schemaVersion: "2" })),
      "v/schema1",
      "t",
      "schemaVersion",
      '"2"',
    );
    // A JSON document of another kind without a schemaVersion is still stored as it is.
    expect(
      (await put("v/schema1", "other", JSON.stringify({ hello: "world" }), "application/vnd.example.thing+json"))
        .status,
    ).toBe(201);
  });

  it("a subject naming a manifest that does not exist is accepted (spec: MUST), answered with OCI-Subject and listed", async () => {
    const doc = await imageDoc("v/subject");
    const missing = sha256(Buffer.from("a manifest nobody pushed"));
    const referrer = JSON.stringify({
      ...doc,
      artifactType: "application/vnd.example.sbom",
      subject: { mediaType: MediaType.OCI_MANIFEST, digest: missing, size: 24 },
    });
    const res = await put("v/subject", sha256(Buffer.from(referrer)), referrer, MediaType.OCI_MANIFEST);
    expect(res.status, res.body.toString()).toBe(201);
    expect(res.headers["oci-subject"]).toBe(missing);
    const list = await request(addr, "GET", `/v2/v/subject/referrers/${missing}`);
    expect(list.status).toBe(200);
    const index = list.json() as { manifests: { digest: string; artifactType?: string }[] };
    expect(index.manifests).toEqual([
      expect.objectContaining({ digest: sha256(Buffer.from(referrer)), artifactType: "application/vnd.example.sbom" }),
    ]);
  });

  it("a manifest of another kind still needs a valid media type", async () => {
    const bad = JSON.stringify({ mediaType: "text/plain\r\nSet-Cookie: x", hello: "world" });
    await expectInvalid(
      await put("v/other", "t", bad),
      "v/other",
      "t",
      "mediaType",
      JSON.stringify("text/plain\r\nSet-Cookie: x"),
    );
  });
});

describe("GET/HEAD of manifests never answer 500", () => {
  it("a manifest an older registry stored with a CR/LF media type answers a clean 404, and can be deleted", async () => {
    const img = await pushImage(addr, "v/old", "t", [randomBytes(30)]);
    // What the registry stored before media types were checked at PUT.
    const revision = join(
      reg.root,
      "repositories",
      "v",
      "old",
      "_manifests",
      "revisions",
      img.digest.slice("sha256:".length),
    );
    await writeFile(revision, JSON.stringify({ mediaType: CRLF_TYPE }));
    for (const method of ["GET", "HEAD"]) {
      for (const ref of ["t", img.digest]) {
        const res = await request(addr, method, `/v2/v/old/manifests/${ref}`);
        expect(res.status, `${method} ${ref}`).toBe(404);
        expect(res.headers["content-type"]).toBe("application/json");
        if (method === "GET") {
          const [e] = errors(res.body);
          expect(e.code).toBe("MANIFEST_UNKNOWN");
          expect(e.message).toContain(JSON.stringify(CRLF_TYPE));
        }
      }
    }
    // A corrupt revision record is answered the same way.
    await writeFile(revision, "{not json");
    expect((await request(addr, "GET", `/v2/v/old/manifests/t`)).status).toBe(404);
    expect((await request(addr, "DELETE", `/v2/v/old/manifests/${img.digest}`)).status).toBe(202);
    expect((await request(addr, "GET", "/v2/v/old/tags/list")).json()).toEqual({ name: "v/old", tags: [] });
  });
});
