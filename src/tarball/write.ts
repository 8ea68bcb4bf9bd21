/**
 * A sink: images as one docker-archive tarball (what `docker save` writes, what `docker load` and `podman load`
 * read), streamed from their OCI layouts.
 *
 * The archive holds
 *   manifest.json                 [{"Config": "blobs/sha256/<hex>", "RepoTags": [...], "Layers": ["blobs/sha256/<hex>", ...]}, ...]
 *   blobs/sha256/<hex>            each config and layer blob, by its digest, once even when images share it
 * Choices:
 *  - Blobs keep their OCI names (as `docker save` >= 25 names them), so images that share a base share its layers
 *    in the archive too; there is no index.json or oci-layout, so loaders read it as a docker archive (podman
 *    would otherwise take the OCI archive first and ignore RepoTags).
 *  - Layers stay as the layout has them (gzip): docker and podman both decompress layer files when loading, so the
 *    archive is the layout's bytes rearranged, never recompressed.
 *  - Reproducible: entries sorted by path, mtime 0, uid/gid 0, mode 0644 (0755 for directories) through
 *    src/layer/tar.ts's writer; the same images and tags give the same bytes.
 */
import { remoteSourcesOf } from "../layout/remote";
import { rename, rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PipelineError } from "../errors";
import type { Image } from "../oci/model";
import { type Digest, digestHex } from "../oci/digest";
import { tarStream, type TarEntry } from "../layer/tar";
import { openWriteStream } from "../open-write-stream";

export interface ArchiveImage {
  image: Image;
  /** `registry/repository:tag` names the loader gives the image. */
  repoTags: string[];
}

/** One entry of manifest.json, in docker's spelling. */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const blobName = (digest: Digest) => `blobs/sha256/${digestHex(digest)}`;

/** manifest.json's content: one entry per image, in the order given. */
export function archiveManifest(images: readonly ArchiveImage[]): DockerArchiveManifestEntry[] {
  return images.map(({ image, repoTags }) => ({
    Config: blobName(image.configBlob.digest),
    RepoTags: [...repoTags],
    Layers: image.layers.map((l) => blobName(l.digest)),
  }));
}

/** The archive's entries, sorted by path. Layer blobs are read from their files when the tar stream reaches them. */
export function archiveEntries(images: readonly ArchiveImage[]): TarEntry[] {
  if (images.length === 0) throw new PipelineError("E_BAD_INPUT", "docker archive: no images to write");
  const blobs = new Map<string, TarEntry>();
  for (const { image } of images) {
    if (!image.configBlob.digest.startsWith("sha256:")) {
      throw new PipelineError("E_LAYOUT", `docker archive: config ${image.configBlob.digest} is not a sha256 digest`);
    }
    blobs.set(blobName(image.configBlob.digest), {
      path: blobName(image.configBlob.digest),
      type: "file",
      mode: 0o644,
      content: image.configBytes,
    });
    for (const l of image.layers) {
      if (!l.digest.startsWith("sha256:"))
        throw new PipelineError("E_LAYOUT", `docker archive: layer ${l.digest} is not a sha256 digest`);
      const remote = remoteSourcesOf(l);
      if (!l.path && remote)
        throw new PipelineError(
          "E_BASE_LAYER_MISSING",
          `docker archive: layer ${l.digest} is not in the layout (a shallow base): it is in ${remote.join(", ")}; ` +
            `a docker archive needs the base's layers (build on the base with layer_handling = "eager")`,
        );
      if (!l.path) throw new PipelineError("E_LAYOUT", `docker archive: layer ${l.digest} is not a file on disk`);
      blobs.set(blobName(l.digest), {
        path: blobName(l.digest),
        type: "file",
        mode: 0o644,
        source: l.path,
        size: l.size,
      });
    }
  }
  const manifest = Buffer.from(JSON.stringify(archiveManifest(images)) + "\n", "utf8");
  const files = [
    ...blobs.values(),
    { path: "manifest.json", type: "file", mode: 0o644, content: manifest } satisfies TarEntry,
  ];
  const dirs: TarEntry[] = [
    { path: "blobs/", type: "dir", mode: 0o755 },
    { path: "blobs/sha256/", type: "dir", mode: 0o755 },
  ];
  return [...dirs, ...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The archive as a byte stream (nothing is held in memory but small blobs). */
export function dockerArchiveStream(images: readonly ArchiveImage[]): Readable {
  return tarStream(archiveEntries(images), { mtime: 0 });
}

/** Writes the archive to `out` through a temporary sibling renamed into place, so `out` is whole or absent. */
export async function writeDockerArchive(out: string, images: readonly ArchiveImage[]): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await pipeline(dockerArchiveStream(images), await openWriteStream(tmp));
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_TARBALL", `docker archive ${out}: ${(e as Error).message}`, { cause: e });
  }
}
