/**
 * Which platforms of a layout a push sends: all of them by default, or those `--platform` names. A name the layout
 * lacks is E_PLATFORM listing what it has; the others are reported as dropped, never left out silently.
 */
import { PipelineError } from "../errors";
import type { Image, ImageIndex } from "../oci/model";
import { platformOfImage } from "../image/image-index";
import { isLayoutIndex, type LayoutIndex } from "../layout/read";
import { formatPlatform, pickPlatform, platformMatches } from "../oci/platform";
import type { Descriptor, Index, Platform } from "../oci/types";
import { sha256 } from "../oci/digest";

export type Selection = { platforms: string[]; dropped: string[]; images: Image[] } & (
  | { kind: "image"; image: Image }
  | { kind: "index"; index: ImageIndex }
);

export function selectPlatforms(
  dir: string,
  content: Image | LayoutIndex,
  want: readonly Platform[] | undefined,
): Selection {
  if (!isLayoutIndex(content)) {
    const own = platformOfImage(content);
    if (want?.length && !want.some((w) => platformMatches(own, w))) {
      throw new PipelineError(
        "E_PLATFORM",
        `OCI layout ${dir}: no manifest for ${want.map(formatPlatform).join(", ")} (it holds one image, for ${formatPlatform(own)})`,
      );
    }
    return { kind: "image", image: content, images: [content], platforms: [formatPlatform(own)], dropped: [] };
  }
  const entries = content.manifests.map((m) => m.descriptor);
  let chosen: Set<Descriptor> = new Set(entries);
  if (want?.length) {
    chosen = new Set(
      want.map((w) => pickPlatform(entries, w, { name: `OCI layout ${dir}`, indexDigest: content.digest })),
    );
  }
  const kept = content.manifests.filter((m) => chosen.has(m.descriptor));
  const dropped = content.manifests
    .filter((m) => !chosen.has(m.descriptor))
    .map((m) => formatPlatform(m.descriptor.platform));
  let bytes = content.bytes;
  let index: Index = content.index;
  if (dropped.length) {
    index = { ...content.index, manifests: kept.map((m) => m.descriptor) };
    bytes = Buffer.from(JSON.stringify(index));
  }
  const images = kept.map((m) => m.image);
  return {
    kind: "index",
    index: { bytes, index, digest: sha256(bytes), mediaType: content.mediaType, images },
    images,
    platforms: kept.map((m) => formatPlatform(m.descriptor.platform)),
    dropped,
  };
}
