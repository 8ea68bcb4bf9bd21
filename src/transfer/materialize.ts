/**
 * A shallow layout made whole (`pipeline materialize`, the NAME_image_full rule's action): the same layout, every
 * blob present, for consumers that read each blob from the directory (rules_oci's oci_push, oci_load,
 * oci_image(base = ...); skopeo's `oci:DIR`). The layers the layout lacks (src/layout/remote.ts) are fetched from the
 * sources it records (RemoteLayers: the first that holds each, checked against its digest and size as it flows, and
 * again as it is written, under a temporary name renamed when whole); the others are hard-linked (or copied). The
 * manifests, configs and index are the layout's bytes, index.json too: the copy has the same digest. No record of
 * remote blobs is written. A layout that lacks nothing is copied without a request.
 */
import { join } from "node:path";
import { isLayoutIndex, layoutImages, MAX_LAYOUT_JSON_BYTES, readLayoutContent, readLayoutFile } from "../layout/read";
import { remoteSourcesOf } from "../layout/remote";
import { writeLayout } from "../layout/write";
import type { Digest } from "../oci/digest";
import type { Image, ImageIndex } from "../oci/model";
import { RemoteLayers, type RemoteFetchOptions } from "./remote-blobs";

export interface Materialized {
  /** The digest of what the layout holds (its index, or its one manifest): the copy's too. */
  digest: Digest;
  /** The layers fetched from their sources (each once, however many images share it). */
  fetched: Digest[];
}

/** Writes layout `src` whole into `out` (replaced atomically): see the module's comment. */
export async function materializeLayout(
  src: string,
  out: string,
  opts: RemoteFetchOptions = {},
): Promise<Materialized> {
  const indexJson = readLayoutFile(join(src, "index.json"), MAX_LAYOUT_JSON_BYTES, `OCI layout ${src}`);
  const content = readLayoutContent(src);
  const remote = new RemoteLayers(opts);
  const whole = (i: Image): Image => ({ ...i, layers: i.layers.map((l) => remote.fetched(l)) });
  const image: Image | ImageIndex = isLayoutIndex(content)
    ? {
        bytes: content.bytes,
        index: content.index,
        digest: content.digest,
        mediaType: content.mediaType,
        images: content.manifests.map((m) => whole(m.image)),
      }
    : whole(content);
  const fetched = new Set(
    layoutImages(content).flatMap((i) => i.layers.filter((l) => remoteSourcesOf(l)).map((l) => l.digest)),
  );
  await writeLayout(out, image, { atomic: true, indexJson });
  return { digest: content.digest, fetched: [...fetched].sort() };
}
