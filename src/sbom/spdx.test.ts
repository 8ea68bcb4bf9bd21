import { describe, expect, it } from "vitest";
import { parseDigest } from "../oci/digest";
import { buildSbom, checksumsOf, licenseOf, mainRepoLabel, npmPurl, ociPurl, sbomDocument } from "./spdx";

const DIGEST = parseDigest("sha256:" + "a".repeat(64), "test");
const BASE = parseDigest("sha256:" + "b".repeat(64), "test");
const SHA512 = "sha512-" + Buffer.alloc(64, 1).toString("base64");

type Doc = {
  spdxVersion: string;
  dataLicense: string;
  SPDXID: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: {
    name: string;
    SPDXID: string;
    versionInfo: string;
    downloadLocation: string;
    licenseDeclared: string;
    checksums?: { algorithm: string; checksumValue: string }[];
    externalRefs?: { referenceLocator: string }[];
  }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
};

const input = {
  name: "//app:svc_image",
  imageDigest: DIGEST,
  created: 0,
  base: { name: "127.0.0.1:5000/team/node-base@" + BASE, digest: BASE },
  packages: [
    {
      name: "zod",
      version: "3.22.4",
      license: "MIT",
      integrity: SHA512,
      resolved: "https://registry.npmjs.org/zod/-/zod-3.22.4.tgz",
    },
    { name: "@aws-sdk/client-s3", version: "3.0.0", license: "Apache-2.0" },
    { name: "zod", version: "3.22.4", license: "MIT" }, // a nested copy of the same version: one package
  ],
};

describe("SPDX 2.3 document", () => {
  it("has the required document fields, the image, its base and each npm package with purl, license and checksum", () => {
    const doc = sbomDocument(input) as unknown as Doc;
    expect(doc.spdxVersion).toBe("SPDX-2.3");
    expect(doc.dataLicense).toBe("CC0-1.0");
    expect(doc.SPDXID).toBe("SPDXRef-DOCUMENT");
    expect(doc.creationInfo.created).toBe("1970-01-01T00:00:00Z");
    expect(doc.creationInfo.creators[0]).toMatch(/^Tool: rules_pipeline-/);
    expect(doc.documentNamespace).toMatch(/^https:\/\/rules-pipeline\.invalid\/spdx\/.+-[0-9a-f]{64}$/);
    const names = doc.packages.map((p) => p.name);
    expect(names).toEqual(["//app:svc_image", "127.0.0.1:5000/team/node-base@" + BASE, "@aws-sdk/client-s3", "zod"]);
    const base = doc.packages[1];
    expect(base.versionInfo).toBe(BASE);
    expect(base.externalRefs![0].referenceLocator).toBe(
      `pkg:oci/node-base@sha256%3A${"b".repeat(64)}?repository_url=127.0.0.1%3A5000/team/node-base`,
    );
    const zod = doc.packages[3];
    expect(zod.checksums).toEqual([{ algorithm: "SHA512", checksumValue: "01".repeat(64) }]);
    expect(zod.licenseDeclared).toBe("MIT");
    expect(zod.downloadLocation).toBe("https://registry.npmjs.org/zod/-/zod-3.22.4.tgz");
    expect(doc.packages[2].externalRefs![0].referenceLocator).toBe("pkg:npm/%40aws-sdk/client-s3@3.0.0");
    expect(doc.packages[2].downloadLocation).toBe("NOASSERTION");
    expect(doc.relationships).toContainEqual({
      spdxElementId: "SPDXRef-DOCUMENT",
      relationshipType: "DESCRIBES",
      relatedSpdxElement: "SPDXRef-Image",
    });
    expect(doc.relationships).toContainEqual({
      spdxElementId: "SPDXRef-Image",
      relationshipType: "DESCENDANT_OF",
      relatedSpdxElement: "SPDXRef-BaseImage",
    });
    expect(doc.relationships.filter((r) => r.relationshipType === "CONTAINS")).toHaveLength(2);
    expect(new Set(doc.packages.map((p) => p.SPDXID)).size).toBe(doc.packages.length);
  });

  it("is byte-identical for the same input in any package order, and its namespace follows the content", () => {
    const a = buildSbom(input);
    const b = buildSbom({ ...input, packages: [...input.packages].reverse() });
    expect(b.equals(a)).toBe(true);
    const other = sbomDocument({ ...input, packages: input.packages.slice(1) }) as unknown as Doc;
    expect(other.documentNamespace).not.toBe((JSON.parse(a.toString()) as Doc).documentNamespace);
    const stamped = sbomDocument({ ...input, created: 1700000000 }) as unknown as Doc;
    expect(stamped.creationInfo.created).toBe("2023-11-14T22:13:20Z");
    expect(a.toString()).not.toMatch(/\/tmp\/|\/home\/|\/root\//);
  });

  it("is byte-identical whichever way Bazel renders the image's main-repository label (4-5, 6+ WORKSPACE, bzlmod)", () => {
    const plain = buildSbom({ ...input, name: "//app:svc_image" });
    for (const rendering of ["@//app:svc_image", "@@//app:svc_image"]) {
      const bytes = buildSbom({ ...input, name: rendering });
      expect(bytes.toString(), rendering).toBe(plain.toString());
    }
    const doc = JSON.parse(plain.toString()) as Doc & { name: string };
    expect(doc.name).toBe("//app:svc_image");
    expect(doc.packages[0].name).toBe("//app:svc_image");
    expect(doc.documentNamespace).toMatch(
      /^https:\/\/rules-pipeline\.invalid\/spdx\/%2F%2Fapp%3Asvc_image-[0-9a-f]{64}$/,
    );
    // Another repository's label, or a name that is no label, is kept as it is.
    expect(mainRepoLabel("@other//app:svc_image")).toBe("@other//app:svc_image");
    expect(mainRepoLabel("@@other~//app:svc_image")).toBe("@@other~//app:svc_image");
    expect(mainRepoLabel("image")).toBe("image");
  });

  it("maps purls, checksums and licenses as the specs want", () => {
    expect(npmPurl("@types/node", "20.1.0")).toBe("pkg:npm/%40types/node@20.1.0");
    expect(npmPurl("lodash", "4.17.21")).toBe("pkg:npm/lodash@4.17.21");
    expect(ociPurl(BASE)).toBe(`pkg:oci/image@sha256%3A${"b".repeat(64)}`);
    expect(checksumsOf("sha1-" + Buffer.alloc(20, 255).toString("base64") + " md5-xx")).toEqual([
      { algorithm: "SHA1", checksumValue: "ff".repeat(20) },
    ]);
    expect(checksumsOf(undefined)).toEqual([]);
    expect(licenseOf("(MIT OR Apache-2.0)")).toBe("(MIT OR Apache-2.0)");
    expect(licenseOf("SEE LICENSE IN LICENSE.md")).toBe("NOASSERTION");
    expect(licenseOf("UNLICENSED")).toBe("NOASSERTION");
    expect(licenseOf(undefined)).toBe("NOASSERTION");
  });

  it("leaves the base image out when there is none", () => {
    const doc = sbomDocument({ ...input, base: undefined }) as unknown as Doc;
    expect(doc.packages.map((p) => p.SPDXID)).not.toContain("SPDXRef-BaseImage");
    expect(doc.relationships.map((r) => r.relationshipType)).not.toContain("DESCENDANT_OF");
  });
});
