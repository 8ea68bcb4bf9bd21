import { describe, expect, it } from "vitest";
import { sha256 } from "../oci/digest";
import type { Descriptor } from "../oci/types";
import {
  ANNOTATION_ORAS_DIGEST,
  ANNOTATION_ORAS_UNPACK,
  ANNOTATION_TITLE,
  EMPTY_CONFIG,
  MODEL_ARTIFACT_TYPE,
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

describe("modelManifestBytes", () => {
  it("writes the OCI 1.1 artifact shape with the empty config, sorted annotations and no timestamp", () => {
    const bytes = modelManifestBytes(tree, [file("model/w.bin")]);
    expect(bytes.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"${MODEL_ARTIFACT_TYPE}",` +
        `"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
        `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${D("tree")}","size":10,"annotations":{"${ANNOTATION_ORAS_DIGEST}":"${D("tar")}","${ANNOTATION_ORAS_UNPACK}":"true","${ANNOTATION_TITLE}":"model"}},` +
        `{"mediaType":"application/octet-stream","digest":"${D("model/w.bin")}","size":5,"annotations":{"${ANNOTATION_TITLE}":"model/w.bin"}}]}`,
    );
  });
});

describe("planModel", () => {
  it("maps file titles under the tree's root to paths inside the model", () => {
    const plan = planModel(manifest([tree, file("model/a/w.bin"), file("model/b.bin")]), "m");
    expect(plan.rootTitle).toBe("model");
    expect(plan.treeDiffId).toBe(D("tar"));
    expect(plan.files.map((f) => f.path)).toEqual(["a/w.bin", "b.bin"]);
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
      [manifest([file("model/a")]), "exactly one layer"],
      [manifest([tree, { ...tree, digest: D("t2") }]), "found 2"],
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
