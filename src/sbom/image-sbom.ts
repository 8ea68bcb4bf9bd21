/** The SBOM of a built image: its npm packages (read from their package.json files and the given lockfiles) and its base. */
import { npmPackages } from "./npm-packages";
import type { Digest } from "../oci/digest";
import { type BaseImage, buildSbom } from "./spdx";

export function imageSbom(o: {
  name: string;
  imageDigest: Digest;
  packageFiles: string[];
  lockfiles: string[];
  base?: BaseImage;
  created: number;
}): Buffer {
  return buildSbom({
    name: o.name,
    imageDigest: o.imageDigest,
    packages: npmPackages(o.packageFiles, o.lockfiles),
    base: o.base,
    created: o.created,
  });
}
