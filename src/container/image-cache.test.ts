/**
 * The local runner's `oci:DIR[@sha256:...]` is deploy/layout-image.ts's grammar, not a second one: the same split,
 * and the same E_BAD_REFERENCE for a malformed digest (once read as part of the directory's name) or no directory.
 */
import { describe, expect, it, test } from "vitest";
import { pipelineErrorOfSync } from "../../test/fixtures/errors";
import { sha256 } from "../oci/digest";
import { parseOciImage } from "./image-cache";

const D = sha256("image");

describe("parseOciImage", () => {
  it("splits oci:DIR[@DIGEST] into an absolute directory and the digest; other references are not its", () => {
    expect(parseOciImage("oci:/srv/app_image")).toEqual({ dir: "/srv/app_image" });
    expect(parseOciImage(`oci:out/app_image@${D}`, "/work")).toEqual({ dir: "/work/out/app_image", digest: D });
    expect(parseOciImage("oci:/srv/a@b/img")).toEqual({ dir: "/srv/a@b/img" });
    expect(parseOciImage(`x.io/a/b@${D}`)).toBeUndefined();
  });

  test.each([
    ["oci:", /^image: expected oci:DIR or oci:DIR@sha256:<64 lowercase hex> \(no directory given\), got "oci:"$/],
    [
      "oci:/srv/img@sha256:abc",
      /^image: digest must be "sha256:<64 lowercase hex>" \(got "sha256:abc"\), got "oci:\/srv\/img@sha256:abc"$/,
    ],
    ["oci:/srv/a\nb", /control character/],
  ])("%j is refused (E_BAD_REFERENCE)", (input, message) => {
    const e = pipelineErrorOfSync(() => parseOciImage(input));
    expect(e.code).toBe("E_BAD_REFERENCE");
    expect(e.message).toMatch(message);
  });
});
