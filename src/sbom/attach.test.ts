import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushImage, request, type TempRegistry, tempRegistry } from "../devregistry/testing";
import { parseDigest } from "../oci/digest";
import { parseReference } from "../oci/reference";
import { MediaType } from "../oci/types";
import { attachSbom, sbomManifest } from "./attach";
import { findRemoteSbom } from "./find";
import { SPDX_MEDIA_TYPE } from "./spdx";

let reg: TempRegistry;
beforeAll(async () => {
  reg = await tempRegistry();
});
afterAll(async () => reg.cleanup());

const sbom = (n: number) =>
  Buffer.from(JSON.stringify({ spdxVersion: "SPDX-2.3", name: `doc ${n}`, packages: [] }, null, 2) + "\n");

describe("SBOM as an OCI referrer (dev registry: referrers API)", () => {
  it("builds an OCI 1.1 artifact manifest: artifactType, empty config, the document as its one layer, subject", () => {
    const subject = {
      mediaType: MediaType.OCI_MANIFEST,
      digest: parseDigest("sha256:" + "c".repeat(64), "test"),
      size: 123,
    };
    const { bytes, descriptor } = sbomManifest(sbom(0), subject);
    const m = JSON.parse(bytes.toString()) as Record<string, unknown>;
    expect(m.artifactType).toBe(SPDX_MEDIA_TYPE);
    expect(m.config).toEqual({
      mediaType: "application/vnd.oci.empty.v1+json",
      digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      size: 2,
    });
    expect((m.layers as { mediaType: string }[]).map((l) => l.mediaType)).toEqual([SPDX_MEDIA_TYPE]);
    expect(m.subject).toEqual(subject);
    expect(descriptor.artifactType).toBe(SPDX_MEDIA_TYPE);
  });

  it("attaches through the referrers API (OCI-Subject), lists it filtered by artifactType, and finds it again", async () => {
    const img = await pushImage(reg.address, "team/app", "v1", [randomBytes(100)]);
    const subject = { mediaType: MediaType.OCI_MANIFEST, digest: img.digest, size: img.manifest.length };
    const doc = sbom(1);
    const attached = await attachSbom({ registry: reg.address, repository: "team/app" }, subject, doc);
    expect(attached.via).toBe("referrers");
    expect(attached.tag).toBeUndefined();
    // Attaching again changes nothing.
    expect((await attachSbom({ registry: reg.address, repository: "team/app" }, subject, doc)).digest).toBe(
      attached.digest,
    );

    const list = await request(
      reg.address,
      "GET",
      `/v2/team/app/referrers/${img.digest}?artifactType=${encodeURIComponent(SPDX_MEDIA_TYPE)}`,
    );
    expect(list.status).toBe(200);
    expect(list.headers["content-type"]).toBe(MediaType.OCI_INDEX);
    expect(list.headers["oci-filters-applied"]).toBe("artifactType");
    const index = list.json<{ manifests: { digest: string; artifactType: string }[] }>();
    expect(index.manifests).toEqual([
      expect.objectContaining({ digest: attached.digest, artifactType: SPDX_MEDIA_TYPE }),
    ]);
    const other = await request(
      reg.address,
      "GET",
      `/v2/team/app/referrers/${img.digest}?artifactType=application%2Fexample`,
    );
    expect(other.json<{ manifests: unknown[] }>().manifests).toEqual([]);
    // No fallback tag was written.
    expect((await request(reg.address, "GET", `/v2/team/app/manifests/${img.digest.replace(":", "-")}`)).status).toBe(
      404,
    );

    for (const ref of [`${reg.address}/team/app:v1`, `${reg.address}/team/app@${img.digest}`]) {
      const found = await findRemoteSbom(parseReference(ref));
      expect(found.bytes.equals(doc)).toBe(true);
      expect(found.via).toBe("referrers");
      expect(found.subject).toBe(img.digest);
    }
  });

  it("an image without an SBOM is E_NO_SBOM naming the reference and the digest", async () => {
    const img = await pushImage(reg.address, "team/bare", "v1", [randomBytes(50)]);
    await expect(findRemoteSbom(parseReference(`${reg.address}/team/bare:v1`))).rejects.toMatchObject({
      code: "E_NO_SBOM",
      message: expect.stringContaining(`${reg.address}/team/bare:v1: no SBOM`),
    });
    await expect(findRemoteSbom(parseReference(`${reg.address}/team/bare:v1`))).rejects.toThrow(img.digest);
  });

  it("the dev registry refuses a subject that is not a descriptor with a sha256 digest", async () => {
    const img = await pushImage(reg.address, "team/bad", "v1", [randomBytes(50)]);
    const m = JSON.parse(img.manifest.toString()) as Record<string, unknown>;
    const res = await request(reg.address, "PUT", `/v2/team/bad/manifests/v2`, {
      body: JSON.stringify({ ...m, subject: { mediaType: MediaType.OCI_MANIFEST, digest: "md5:abc", size: 1 } }),
      headers: { "Content-Type": MediaType.OCI_MANIFEST },
    });
    expect(res.status).toBe(400);
    expect(res.body.toString()).toContain('subject.digest: expected a sha256 digest, got \\"md5:abc\\"');
  });
});
