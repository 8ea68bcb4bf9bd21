/**
 * Reads an image from an OCI image layout directory (ours, rules_oci's, skopeo's `oci:DIR`, umoci's).
 *
 * The directory may come from someone else, so its files are read as hostile (readLayoutFile): only regular files
 * (a symlink to /dev/zero or a FIFO is E_LAYOUT, not a hang or an abort), index.json and manifests up to 4 MiB
 * (the size the distribution spec has registries accept) and configs up to 16 MiB, checked before reading; layer
 * blobs must be regular files of the manifest's size. Symlinks to regular files are followed, wherever they lead:
 * Bazel hands layouts to actions as trees of symlinks into its output base. What such a link could read is
 * checked against its digest before use, and no message quotes a file's bytes.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { type Digest, digestHex, sha256 } from "../oci/digest";
import { isObject, parseIndexDescriptors, parseManifestDescriptors } from "../oci/descriptor";
import { diffIdsOf, parseImageConfig } from "../oci/image-config";
import {
  ANNOTATION_REF_NAME,
  type Descriptor,
  type Index,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
} from "../oci/types";
import { fileBlob, fileLayer } from "../layer/blob";
import type { Image } from "../oci/model";
import { hostPlatform, pickPlatform } from "../oci/platform";
import type { Platform } from "../oci/types";
import { MAX_LAYOUT_CONFIG_BYTES, MAX_LAYOUT_JSON_BYTES, readLayoutFile } from "./read-file";
import { type RemoteBlob, readRemoteBlobs, remoteBlob } from "./remote";

export { MAX_LAYOUT_CONFIG_BYTES, MAX_LAYOUT_JSON_BYTES, readLayoutFile } from "./read-file";

export function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digestHex(digest));
}

function readJson<T>(file: string, what: string): T {
  const text = readLayoutFile(file, MAX_LAYOUT_JSON_BYTES, what).toString("utf8");
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new PipelineError("E_LAYOUT", `${what}: ${file} is not valid JSON`); // JSON.parse's message quotes the text
  }
}

/** Reads a blob's bytes (at most `max`: a manifest's by default) and checks them against the digest. */
export function readBlobVerified(dir: string, desc: Descriptor, max = MAX_LAYOUT_JSON_BYTES): Buffer {
  const p = blobPath(dir, desc.digest);
  if (!existsSync(p)) throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: blob ${desc.digest} is missing`);
  const bytes = readLayoutFile(p, max, `OCI layout ${dir}: blob ${desc.digest}`);
  if (sha256(bytes) !== desc.digest) {
    throw new PipelineError(
      "E_LAYOUT",
      `OCI layout ${dir}: blob ${desc.digest} does not match its digest (corrupt layout)`,
    );
  }
  return bytes;
}

/**
 * The layout's index.json with its entries' digests parsed: E_LAYOUT when it is not JSON or lists no manifests,
 * E_BAD_DIGEST naming the entry when a digest is not one.
 */
export function readIndexJson(dir: string): Index {
  const index = parseIndexDescriptors(
    readJson<unknown>(join(dir, "index.json"), `OCI layout ${dir}`),
    `OCI layout ${dir}: index.json`,
  );
  if (!index || index.manifests.length === 0)
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: index.json lists no manifests`);
  return index;
}

/** E_LAYOUT unless `dir` has an oci-layout file. */
function assertLayout(dir: string): void {
  if (!existsSync(join(dir, "oci-layout"))) {
    const kind = existsSync(dir)
      ? statSync(dir).isDirectory()
        ? "no oci-layout file"
        : "not a directory"
      : "no such directory";
    throw new PipelineError("E_LAYOUT", `${dir} is not an OCI image layout (${kind})`);
  }
}

/** The index.json entry named `refName`, or the only one. */
function layoutEntry(dir: string, refName?: string): Descriptor {
  assertLayout(dir);
  let candidates = readIndexJson(dir).manifests;
  if (refName) {
    candidates = candidates.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] === refName);
    if (candidates.length === 0)
      throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: no manifest named ${JSON.stringify(refName)}`);
  }
  if (candidates.length > 1) {
    throw new PipelineError(
      "E_LAYOUT",
      `OCI layout ${dir}: index.json lists ${candidates.length} manifests; name one with a ref name`,
    );
  }
  return candidates[0];
}

/**
 * Picks the manifest named `refName` in index.json, or the only one. A multi-platform index there is followed
 * choosing `platform` (default: this machine's, src/oci/platform.ts); E_PLATFORM lists the platforms it has.
 */
export function readLayout(dir: string, opts: { refName?: string; platform?: Platform } = {}): Image {
  return readManifestAt(dir, layoutEntry(dir, opts.refName), opts.platform ?? hostPlatform());
}

/** A multi-platform image in a layout: the index (its exact bytes) and each platform's image. */
export interface LayoutIndex {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
  index: Index;
  /** The index's entries in order, each with its image (the entry carries the platform). */
  manifests: { descriptor: Descriptor; image: Image }[];
  /** Annotations of the index's entry in index.json (ref name, source). */
  annotations?: Record<string, string>;
}

/**
 * The multi-platform index a layout holds (the entry named `refName`, or the only one, being an image index), or
 * undefined when that entry is a single image manifest. Every entry must be an image manifest with a platform.
 */
export function readLayoutIndex(dir: string, opts: { refName?: string } = {}): LayoutIndex | undefined {
  const entry = layoutEntry(dir, opts.refName);
  return INDEX_MEDIA_TYPES.includes(entry.mediaType) ? readIndexAt(dir, entry) : undefined;
}

/**
 * What a layout's entry (named `refName`, or the only one) holds, as it is: its multi-platform index, or its one
 * image. index.json is read once (what `readLayoutIndex(dir) ?? readLayout(dir)` read twice).
 */
export function readLayoutContent(dir: string, opts: { refName?: string } = {}): LayoutIndex | Image {
  const entry = layoutEntry(dir, opts.refName);
  return INDEX_MEDIA_TYPES.includes(entry.mediaType)
    ? readIndexAt(dir, entry)
    : readManifestAt(dir, entry, hostPlatform());
}

/**
 * Reads every entry of the layout's index.json back, as a later command would (indexes, manifests, configs, the
 * layer files' sizes, a shallow layout's record): what a layout just written must pass before it replaces another
 * (writeLayout's `atomic`). Entries that are neither an image nor an index (artifacts) are left to their readers.
 */
export function readLayoutWhole(dir: string): void {
  assertLayout(dir);
  for (const entry of readIndexJson(dir).manifests) {
    if (INDEX_MEDIA_TYPES.includes(entry.mediaType)) readIndexAt(dir, entry);
    else if (MANIFEST_MEDIA_TYPES.includes(entry.mediaType)) readManifestAt(dir, entry, hostPlatform());
  }
}

/** Whether what a layout holds is a multi-platform index (else one image). */
export function isLayoutIndex(x: LayoutIndex | Image): x is LayoutIndex {
  return "index" in x;
}

/** Each image of what a layout holds: the index's, one per platform, or the one image. */
export function layoutImages(x: LayoutIndex | Image): Image[] {
  return isLayoutIndex(x) ? x.manifests.map((m) => m.image) : [x];
}

function readIndexAt(dir: string, entry: Descriptor): LayoutIndex {
  const bytes = readBlobVerified(dir, entry);
  const index = parseIndexDescriptors(
    parseBlob(dir, bytes, "index", entry.digest),
    `OCI layout ${dir}: index ${entry.digest}`,
  );
  if (!index || index.manifests.length === 0) {
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: index ${entry.digest} lists no manifests`);
  }
  const manifests = index.manifests.map((d) => {
    if (!d.platform)
      throw new PipelineError(
        "E_LAYOUT",
        `OCI layout ${dir}: index ${entry.digest}: entry ${d.digest} has no platform`,
      );
    if (INDEX_MEDIA_TYPES.includes(d.mediaType))
      throw new PipelineError(
        "E_LAYOUT",
        `OCI layout ${dir}: index ${entry.digest}: entry ${d.digest} is itself an index (nested indexes are not supported)`,
      );
    return { descriptor: d, image: readManifestAt(dir, d, d.platform) };
  });
  return { digest: entry.digest, mediaType: entry.mediaType, bytes, index, manifests, annotations: entry.annotations };
}

/** A blob's bytes as a JSON object; E_LAYOUT naming the layout, the blob and what it should have been. */
function parseBlob(dir: string, bytes: Buffer, what: string, digest: Digest): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: ${what} ${digest} is not valid JSON`); // JSON.parse's message quotes the text
  }
  if (!isObject(parsed))
    throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: ${what} ${digest} is not a JSON object`);
  return parsed;
}

function readManifestAt(dir: string, desc: Descriptor, platform: Platform): Image {
  const bytes = readBlobVerified(dir, desc);
  if (INDEX_MEDIA_TYPES.includes(desc.mediaType)) {
    const nested = parseIndexDescriptors(
      parseBlob(dir, bytes, "index", desc.digest),
      `OCI layout ${dir}: index ${desc.digest}`,
    );
    if (!nested) throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: index ${desc.digest} has no "manifests" list`);
    const match = pickPlatform(nested.manifests, platform, { name: `OCI layout ${dir}`, indexDigest: desc.digest });
    return readManifestAt(dir, match, platform);
  }
  const parsed = parseBlob(dir, bytes, "manifest", desc.digest);
  const mediaType = parsed.mediaType ?? desc.mediaType;
  if (typeof mediaType !== "string" || !MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw new PipelineError(
      "E_LAYOUT",
      `OCI layout ${dir}: unsupported manifest media type ${JSON.stringify(mediaType)}`,
    );
  }
  const manifest = parseManifestDescriptors(parsed, `OCI layout ${dir}: manifest ${desc.digest}`);
  if (!manifest) {
    throw new PipelineError(
      "E_LAYOUT",
      `OCI layout ${dir}: manifest ${desc.digest} is not an image manifest (no config or layers)`,
    );
  }
  const configBytes = readBlobVerified(dir, manifest.config, MAX_LAYOUT_CONFIG_BYTES);
  const configWhere = `OCI layout ${dir}: config ${manifest.config.digest}`;
  const config = parseImageConfig(
    parseBlob(dir, configBytes, "config", manifest.config.digest),
    configWhere,
    "E_LAYOUT",
  );
  const diffIds = diffIdsOf(config);
  if (diffIds.length !== manifest.layers.length) {
    throw new PipelineError(
      "E_LAYOUT",
      `OCI layout ${dir}: config lists ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`,
    );
  }
  let remote: Map<Digest, RemoteBlob> | undefined;
  const layers = manifest.layers.map((l, i) => {
    const p = blobPath(dir, l.digest);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      // A shallow layout (src/layout/remote.ts) records where the blobs it lacks are.
      remote ??= readRemoteBlobs(dir);
      const r = remote.get(l.digest);
      if (r && r.size === l.size && r.mediaType === l.mediaType)
        return remoteBlob(r, { diffId: diffIds[i], annotations: l.annotations });
      throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: layer blob ${l.digest} is missing`);
    }
    if (!st.isFile())
      throw new PipelineError("E_LAYOUT", `OCI layout ${dir}: layer blob ${l.digest} is not a regular file`);
    const size = st.size;
    if (size !== l.size)
      throw new PipelineError(
        "E_LAYOUT",
        `OCI layout ${dir}: layer blob ${l.digest} has ${size} bytes, manifest says ${l.size}`,
      );
    return fileLayer(p, {
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId: diffIds[i],
      annotations: l.annotations,
    });
  });
  return {
    manifestBytes: bytes,
    manifest,
    digest: desc.digest,
    mediaType,
    configBytes,
    config,
    configBlob: fileBlob(
      blobPath(dir, manifest.config.digest),
      manifest.config.digest,
      manifest.config.size,
      manifest.config.mediaType,
    ),
    layers,
  };
}
