/**
 * Issue #42 item 5: descriptors are checked once, by src/oci/descriptor.ts, and everything that reads them takes that
 * check: a layout or a registry's manifest (parseManifestDescriptors), a manifest pushed to the dev registry
 * (src/devregistry/manifest-check.ts) and a model artifact (src/weights/artifact.ts) refuse the same descriptors,
 * naming the same field. Before, the first checked only the digest, the model no media type. Also the other two
 * mechanisms of the item, kept single: the dev registry hashes uploads with src/oci/ (the Verifier and `fileDigest`),
 * and only src/layout/ tells a layout's index from its image (`readLayoutContent`, no `readLayoutIndex ?? readLayout`).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { checkManifest } from "../../src/devregistry/manifest-check";
import { ErrorAnswer } from "../../src/devregistry/error-answer";
import { Storage } from "../../src/devregistry/storage";
import { PipelineError } from "../../src/errors";
import { EMPTY_CONFIG, MODEL_ARTIFACT_TYPE, planModel } from "../../src/weights/artifact";
import { parseManifestDescriptors } from "../../src/oci/descriptor";
import { sha256 } from "../../src/oci/digest";
import { MediaType } from "../../src/oci/types";
import { REPO_ROOT } from "../fixtures/repo";
import { sourceFiles } from "../fixtures/source-files";

const good = { mediaType: MediaType.OCI_LAYER_GZIP, digest: sha256("layer"), size: 5 };
const BAD: [string, Record<string, unknown>][] = [
  ["digest", { ...good, digest: "sha256:../../etc/passwd" }],
  ["size", { ...good, size: "5" }],
  ["size", { ...good, size: -1 }],
  ["size", { ...good, size: 2 ** 60 }],
  ["size", { ...good, size: undefined }],
  ["mediaType", { ...good, mediaType: undefined }],
  ["mediaType", { ...good, mediaType: "text/plain\r\nSet-Cookie: x" }],
  ["urls", { ...good, urls: "https://x" }],
];

/** What `f` throws: its message, or "" when it returns. */
async function message(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof PipelineError || e instanceof ErrorAnswer) return e.message;
    throw e;
  }
  return "";
}

const tmp = mkdtempSync(join(tmpdir(), "descriptors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("every reader of descriptors refuses the same ones (src/oci/descriptor.ts)", () => {
  test.each(BAD)("a layer with a bad %s: %j", async (field, layer) => {
    const image = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { ...good, mediaType: MediaType.OCI_CONFIG },
      layers: [layer],
    };
    expect(await message(() => parseManifestDescriptors(image, "m"))).toContain(`m: layers[0].${field}: expected`);

    const storage = await Storage.open(join(tmp, "registry"));
    expect(
      await message(() =>
        checkManifest(storage, "team/app", Buffer.from(JSON.stringify(image)), MediaType.OCI_MANIFEST),
      ),
    ).toContain(`layers[0].${field}: expected`);

    const tree = {
      ...good,
      annotations: { "org.opencontainers.image.title": "model", "io.deis.oras.content.unpack": "true" },
    };
    const model = { schemaVersion: 2, artifactType: MODEL_ARTIFACT_TYPE, config: EMPTY_CONFIG, layers: [tree, layer] };
    expect(await message(() => planModel(model, "m"))).toContain(`m: layers[1].${field}: expected`);
  });
});

describe("one mechanism each", () => {
  const code = sourceFiles(["src", "tools"], [".ts"]).filter((f) => !f.endsWith(".test.ts"));

  test("the dev registry hashes content with src/oci/ (Verifier, fileDigest), not its own sha256 streams", () => {
    // basic-auth.ts hashes two passwords to compare them in constant time: not content.
    const own = code.filter((f) => f.startsWith("src/devregistry/") && f !== "src/devregistry/basic-auth.ts");
    expect(own.length).toBeGreaterThan(10);
    expect(own.filter((f) => /\bcreateHash\(/.test(readFileSync(join(REPO_ROOT, f), "utf8")))).toEqual([]);
  });

  test("only src/layout/ tells a layout's index from its image: callers take readLayoutContent", () => {
    expect(
      code.filter(
        (f) => !f.startsWith("src/layout/") && /\breadLayoutIndex\(/.test(readFileSync(join(REPO_ROOT, f), "utf8")),
      ),
    ).toEqual([]);
  });
});
