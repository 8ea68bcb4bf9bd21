import { describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import type { Descriptor } from "../oci/types";
import {
  ANNOTATION_ORAS_DIGEST,
  ANNOTATION_ORAS_UNPACK,
  ANNOTATION_TITLE,
  EMPTY_CONFIG,
  blobLink,
  blobOfLink,
  MODEL_ARTIFACT_TYPE,
  modelConfigBytes,
  modelManifestBytes,
  planModel,
} from "./artifact";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";

const D = (c: string) => sha256(c);
const tree: Descriptor = {
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: D("tree"),
  size: 10,
  // deliberately unsorted: the manifest sorts annotation keys
  annotations: { [ANNOTATION_TITLE]: "model", [ANNOTATION_ORAS_UNPACK]: "true", [ANNOTATION_ORAS_DIGEST]: D("tar") },
};
const file = (title: string, content = title): Descriptor => ({
  mediaType: "application/octet-stream",
  digest: D(content),
  size: 5,
  annotations: { [ANNOTATION_TITLE]: title },
});

function manifest(layers: unknown[], extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: MODEL_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers,
    ...extra,
  };
}

const HEX = "ab".repeat(32);
const blob = (hex = HEX, title = `model/.blobs/${hex}`): Descriptor => ({
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: D(hex),
  size: 7,
  annotations: {
    [ANNOTATION_TITLE]: title,
    [ANNOTATION_ORAS_UNPACK]: "true",
    [ANNOTATION_ORAS_DIGEST]: D(`tar-${hex}`),
  },
});

describe("modelManifestBytes", () => {
  it("writes the OCI 1.1 artifact shape: the image config containerd needs, sorted annotations, no timestamp", () => {
    const config = modelConfigBytes({ os: "linux", architecture: "amd64" }, [D("tar"), D(`tar-${HEX}`)]);
    expect(config.toString()).toBe(
      `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["${D("tar")}","${D(`tar-${HEX}`)}"]}}`,
    );
    const cfg: Descriptor = {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha256(config),
      size: config.length,
    };
    const bytes = modelManifestBytes(cfg, tree, [blob()]);
    expect(bytes.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"${MODEL_ARTIFACT_TYPE}",` +
        `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${sha256(config)}","size":${config.length}},` +
        `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${D("tree")}","size":10,"annotations":{"${ANNOTATION_ORAS_DIGEST}":"${D("tar")}","${ANNOTATION_ORAS_UNPACK}":"true","${ANNOTATION_TITLE}":"model"}},` +
        `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${D(HEX)}","size":7,"annotations":{"${ANNOTATION_ORAS_DIGEST}":"${D(`tar-${HEX}`)}","${ANNOTATION_ORAS_UNPACK}":"true","${ANNOTATION_TITLE}":"model/.blobs/${HEX}"}}]}`,
    );
  });
});

describe("blobLink / blobOfLink: the one grammar of a big file's link", () => {
  it("reads back what it writes, from the path's depth only", () => {
    expect(blobLink("w.bin", HEX)).toBe(`.blobs/${HEX}/data`);
    expect(blobLink("a/b/w.bin", HEX)).toBe(`../../.blobs/${HEX}/data`);
    expect(blobOfLink("a/b/w.bin", blobLink("a/b/w.bin", HEX))).toBe(HEX);
    expect(blobOfLink("a/w.bin", blobLink("a/b/w.bin", HEX))).toBeUndefined();
    expect(blobOfLink("w.bin", `.blobs/${HEX}/other`)).toBeUndefined();
  });
});

describe("planModel", () => {
  it("maps file titles under the tree's root to paths inside the model", () => {
    const plan = planModel(manifest([tree, file("model/a/w.bin"), file("model/b.bin")]), "m");
    expect(plan.rootTitle).toBe("model");
    expect(plan.treeDiffId).toBe(D("tar"));
    expect(plan.files.map((f) => f.path)).toEqual(["a/w.bin", "b.bin"]);
  });

  it("plans the image-volume form's blob layers by their hex, and refuses any other directory layer", () => {
    const plan = planModel(manifest([tree, blob(), blob("cd".repeat(32))]), "m");
    expect(plan.files).toEqual([]);
    expect(plan.blobs.map((b) => [b.hex, b.diffId])).toEqual([
      [HEX, D(`tar-${HEX}`)],
      ["cd".repeat(32), D(`tar-${"cd".repeat(32)}`)],
    ]);
    for (const title of ["model/sub", "model/.blobs/xyz", `model/.blobs/${HEX}/data`, `model/other/${HEX}`]) {
      const e = pipelineErrorOfSync(() => planModel(manifest([tree, blob(HEX, title)]), "model R"));
      expect(e.code).toBe("E_MODEL_ARTIFACT");
      expect(e.message).toContain(`layer ${JSON.stringify(title)} is a directory layer`);
    }
  });

  it("accepts the ORAS 1.0 style (artifact type as the config media type)", () => {
    const m = manifest([tree], {
      artifactType: undefined,
      config: { ...EMPTY_CONFIG, mediaType: MODEL_ARTIFACT_TYPE },
    });
    expect(planModel(m, "m").files).toEqual([]);
  });

  it.each([
    ["../x", '".." component'],
    ["/etc/passwd", "absolute path"],
    ["model/../../x", '".." component'],
    ["model//x", "empty"],
    ["model/./x", '"."'],
    ["model\\x", "backslash"],
    ["other/x", "not under the model directory"],
  ])("refuses the file title %j", (title, why) => {
    const e = pipelineErrorOfSync(() => planModel(manifest([tree, file(title)]), "model R"));
    expect(e.code).toBe("E_MODEL_UNSAFE");
    expect(e.message).toContain(JSON.stringify(title));
    expect(e.message).toContain(why);
    expect(e.message).toContain("model R");
  });

  it.each([["../model"], ["/model"], ["a/b"], ["."]])("refuses the tree title %j", (title) => {
    const e = pipelineErrorOfSync(() =>
      planModel(manifest([{ ...tree, annotations: { ...tree.annotations, [ANNOTATION_TITLE]: title } }]), "m"),
    );
    expect(e.code).toBe("E_MODEL_UNSAFE");
  });

  it("refuses other artifacts, a missing or second tree layer, untitled and duplicate layers, bad descriptors", () => {
    const cases: [unknown, string][] = [
      [manifest([tree], { artifactType: "application/vnd.cncf.helm.config.v1+json" }), "not a model artifact"],
      [manifest([file("model/a")]), "found none"],
      [manifest([tree, { ...tree, digest: D("t2") }]), 'layer "model" is a directory layer'],
      [manifest([tree, { ...file("x"), annotations: {} }]), "has no org.opencontainers.image.title"],
      [manifest([tree, file("model/a", "1"), file("model/a", "2")]), "two layers are titled"],
      [manifest([tree, file("model/a"), file("model/a/b")]), "lies under the file layer"],
      [
        manifest([tree, { ...file("model/a"), digest: "md5:00" }]),
        'layers[1].digest: expected a digest "sha256:<64 hex>", got "md5:00"',
      ],
      [
        manifest([tree, { ...file("model/a"), size: -1 }]),
        "layers[1].size: expected a size in bytes (a non-negative integer), got -1",
      ],
      [
        manifest([tree, { ...file("model/a"), size: "12" }]),
        'layers[1].size: expected a size in bytes (a non-negative integer), got "12"',
      ],
      // src/oci/descriptor.ts's media type check, as for every descriptor: one with CR/LF is not a media type.
      [
        manifest([tree, { ...file("model/a"), mediaType: "text/plain\r\nX: y" }]),
        "layers[1].mediaType: expected a media type",
      ],
      ["[]", "not a JSON object"],
    ];
    for (const [m, why] of cases) {
      const e = pipelineErrorOfSync(() => planModel(m, "m"));
      expect(e.code, why).toBe("E_MODEL_ARTIFACT");
      expect(e.message).toContain(why);
    }
  });
});
