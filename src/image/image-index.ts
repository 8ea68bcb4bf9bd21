/**
 * A multi-platform image composed: the OCI image index of images (`ImageIndex`, src/oci/model.ts) and each image's
 * platform. Pure: composing one reads nothing but the images it is given.
 */
import { PipelineError } from "../errors";
import { sha256 } from "../oci/digest";
import { formatPlatform } from "../oci/platform";
import { type Descriptor, type Index, MediaType, type Platform } from "../oci/types";
import type { Image, ImageIndex } from "../oci/model";

/** The platform an image's config declares (os, architecture, variant); none when it names no os or architecture. */
export function platformOfImage(image: Image): Platform | undefined {
  const { os, architecture, variant } = image.config;
  if (os === undefined || architecture === undefined) return undefined;
  return variant ? { architecture, os, variant } : { architecture, os };
}

/**
 * An OCI index listing `images` in the given order, each entry with its config's platform. Two images of the same
 * platform are refused (E_PLATFORM): a client could not tell which one to run.
 */
export function composeIndex(images: readonly Image[], annotations?: Record<string, string>): ImageIndex {
  if (images.length === 0) throw new PipelineError("E_PLATFORM", "an image index needs at least one image");
  const seen = new Map<string, string>();
  const manifests: Descriptor[] = images.map((img) => {
    const platform = platformOfImage(img);
    const name = formatPlatform(platform);
    const other = seen.get(name);
    if (other)
      throw new PipelineError(
        "E_PLATFORM",
        `images ${other} and ${img.digest} are both for ${name}: an index lists one image per platform`,
      );
    seen.set(name, img.digest);
    return {
      mediaType: img.mediaType,
      digest: img.digest,
      size: img.manifestBytes.length,
      ...(platform ? { platform } : {}),
    };
  });
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests,
    ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  return { bytes, index, digest: sha256(bytes), mediaType: MediaType.OCI_INDEX, images };
}
