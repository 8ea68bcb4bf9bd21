/**
 * `oci:DIR[@sha256:...]` as an interpreter: the grammar (containerFromReference, the one `--image` goes through
 * with or without a spec), the pin against a real layout on disk, and resolveDeployment using it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, test } from "vitest";
import { writeLayout } from "../layout/write";
import { randomImage } from "../../test/fixtures/random-image";
import { pipelineErrorOf, pipelineErrorOfSync } from "../../test/fixtures/errors";
import { containerFromReference } from "./constructors";
import { parseLayoutReference, pinLayoutImage } from "./layout-image";
import { resolveDeployment } from "./resolve";
import { parseDeploymentSpec } from "./spec";
import { type Digest, parseDigest } from "../oci/digest";

const D = parseDigest("sha256:" + "ab".repeat(32), "D");
const OTHER = parseDigest("sha256:" + "0".repeat(64), "OTHER");
const tmp = mkdtempSync(join(tmpdir(), "rp-layout-image-"));
let layout: string;
let digest: Digest;

beforeAll(async () => {
  layout = join(tmp, "app_image");
  const img = randomImage({ layers: 1, layerSize: 64 });
  await writeLayout(layout, img);
  digest = img.digest;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("the --image grammar: HOST/REPO forms and oci:DIR[@sha256:...]", () => {
  it("oci:DIR and oci:DIR@DIGEST become ContainerInLayout with an absolute directory", () => {
    expect(containerFromReference("oci:/srv/app_image")).toEqual({
      kind: "ContainerInLayout",
      layout: "/srv/app_image",
    });
    expect(containerFromReference(`oci:out/app_image@${D}`, "--image", "/work")).toEqual({
      kind: "ContainerInLayout",
      layout: "/work/out/app_image",
      digest: D,
    });
    // An '@' that does not start a digest is part of the directory's name.
    expect(containerFromReference("oci:/srv/a@b/img")).toEqual({ kind: "ContainerInLayout", layout: "/srv/a@b/img" });
    expect(containerFromReference(`x.io/a/b@${D}`)).toEqual({
      kind: "ContainerAtDigest",
      repository: "x.io/a/b",
      digest: D,
    });
  });

  test.each([
    ["oci:", /^--image: expected oci:DIR or oci:DIR@sha256:<64 lowercase hex> \(no directory given\), got "oci:"$/],
    [`oci:@${D}`, /no directory given/],
    [
      "oci:/srv/img@sha256:abc",
      /^--image: digest must be "sha256:<64 lowercase hex>" \(got "sha256:abc"\), got "oci:\/srv\/img@sha256:abc"$/,
    ],
    [`oci:/srv/img@SHA256:${"a".repeat(64)}`, /digest must be/],
    [`oci:/srv/img@sha512:${"a".repeat(128)}`, /digest must be "sha256:/],
    ["oci:/srv/a\nb", /control character/],
  ])("%j is refused (E_BAD_REFERENCE)", (input, message) => {
    const e = pipelineErrorOfSync(() => containerFromReference(input, "--image"));
    expect(e.code).toBe("E_BAD_REFERENCE");
    expect(e.message).toMatch(message);
  });
});

describe("pinning a layout", () => {
  it("no digest: the layout's only image; its own digest: the same; another: E_DIGEST_MISMATCH naming both", async () => {
    expect(pinLayoutImage({ dir: layout })).toBe(digest);
    expect(pinLayoutImage({ dir: layout, digest })).toBe(digest);
    const e = pipelineErrorOfSync(() => pinLayoutImage({ dir: layout, digest: OTHER }, { what: "--image" }));
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    expect(e.message).toBe(`--image oci:${layout}@${OTHER}: the layout holds ${digest}, not ${OTHER}`);
  });

  it("a layout with several images: the digest picks one of them", async () => {
    const multi = join(tmp, "multi");
    const a = randomImage({ layers: 1, layerSize: 32 });
    const b = randomImage({ layers: 1, layerSize: 32 });
    await writeLayout(multi, a);
    await writeLayout(join(tmp, "multi-b"), b);
    const index = JSON.parse(readFileSync(join(multi, "index.json"), "utf8"));
    index.manifests.push(JSON.parse(readFileSync(join(tmp, "multi-b", "index.json"), "utf8")).manifests[0]);
    writeFileSync(join(multi, "index.json"), JSON.stringify(index));
    expect(pinLayoutImage({ dir: multi, digest: b.digest })).toBe(b.digest);
    const e = pipelineErrorOfSync(() => pinLayoutImage({ dir: multi, digest: OTHER }));
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    expect(e.message).toContain(`the layout holds ${a.digest}, ${b.digest}, not ${OTHER}`);
  });

  it("a directory that is not a layout is E_LAYOUT", () => {
    mkdirSync(join(tmp, "empty"));
    for (const d of [undefined, D]) {
      const e = pipelineErrorOfSync(() => pinLayoutImage({ dir: join(tmp, "empty"), digest: d }));
      expect(e.code).toBe("E_LAYOUT");
      expect(e.message).toContain("is not an OCI image layout");
    }
  });
});

describe("resolveDeployment with --image oci:DIR", () => {
  const spec = () => parseDeploymentSpec(`image: x.io/team/app@${D}\nargs: [serve]\n`, "deploy.yaml");

  it("pins the layout's image: oci:DIR@DIGEST, no warning, no network", async () => {
    for (const ref of [`oci:${layout}`, `oci:${layout}@${digest}`]) {
      const s = spec();
      s.interpreter = containerFromReference(ref, "--image");
      const warnings: string[] = [];
      const r = await resolveDeployment(s, { warn: (l) => warnings.push(l), env: { HOME: tmp } });
      expect(r.image).toBe(`oci:${layout}@${digest}`);
      expect(r.spec.interpreter).toEqual({ kind: "ContainerInLayout", layout, digest });
      expect(r.spec.args).toEqual(["serve"]);
      expect(warnings).toEqual([]);
    }
  });

  it("a digest the layout does not hold is E_DIGEST_MISMATCH naming both digests", async () => {
    const s = spec();
    s.interpreter = containerFromReference(`oci:${layout}@${OTHER}`, "--image");
    const e = await pipelineErrorOf(resolveDeployment(s, { warn: () => undefined, env: { HOME: tmp } }));
    expect(e.code).toBe("E_DIGEST_MISMATCH");
    expect(e.message).toContain(digest);
    expect(e.message).toContain(OTHER);
  });

  it("parseLayoutReference takes a relative directory from the caller's working directory", () => {
    expect(parseLayoutReference(`oci:app_image@${digest}`, "--image", tmp)).toEqual({ dir: layout, digest });
  });
});
