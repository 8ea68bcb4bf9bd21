/**
 * The model artifact's format, pure: constants, the manifest we write, and the checks a manifest from a registry
 * passes before anything of it touches the disk (see index.ts for the format and why).
 */
import { PipelineError } from "../errors";
import { parseDescriptor, problemField } from "../oci/descriptor";
import { type Digest, isDigest, sha256 } from "../oci/digest";
import { type Descriptor, type Manifest, MediaType, type Platform } from "../oci/types";

/** `artifactType` of a model manifest (OCI image-spec 1.1). */
export const MODEL_ARTIFACT_TYPE = "application/vnd.rules-pipeline.model.v1";
/** Media type of a layer holding one file's bytes as they are. */
export const MODEL_FILE_MEDIA_TYPE = "application/octet-stream";
/** Title of the directory layer: `oras pull` writes the model to `<output>/model`. */
export const MODEL_ROOT_TITLE = "model";

export const ANNOTATION_TITLE = "org.opencontainers.image.title";
/** ORAS: digest of the directory layer's uncompressed tar. */
export const ANNOTATION_ORAS_DIGEST = "io.deis.oras.content.digest";
/** ORAS: "true" makes `oras pull` unpack the (tar+gzip) layer into a directory named by its title. */
export const ANNOTATION_ORAS_UNPACK = "io.deis.oras.content.unpack";

/**
 * The directory (under the model's root) holding big files in the image-volume form: `.blobs/<sha256 hex>/data`,
 * each a layer of its own that `oras pull` unpacks into its titled directory and containerd into the rootfs; the
 * file's path in the tree is a relative symlink to it.
 */
export const MODEL_BLOBS_DIR = ".blobs";
/** The name of a big file inside its blob directory. */
export const MODEL_BLOB_FILE = "data";

/** The OCI empty descriptor's content: `{}`. */
export const EMPTY_CONFIG_BYTES = Buffer.from("{}");
export const EMPTY_CONFIG: Descriptor = { mediaType: MediaType.OCI_EMPTY, digest: sha256(EMPTY_CONFIG_BYTES), size: 2 };

/** A file stored as a layer of its own, placed at `<model>/<path>`. */
export interface FileLayerPlan {
  /** Path inside the model directory, "/"-separated, validated. */
  path: string;
  desc: Descriptor;
}

/** A big file of the image-volume form: a tar layer holding only `<root>/.blobs/<hex>/data`. */
export interface BlobLayerPlan {
  /** The sha256 hex naming the blob directory (the file's content digest). */
  hex: string;
  desc: Descriptor;
  /** Digest of the layer's uncompressed tar, when the manifest gives one (checked while unpacking). */
  diffId?: Digest;
}

/** What a validated model manifest says to write. */
export interface ModelPlan {
  /** The tar+gzip layer holding the directory tree (every entry under `<rootTitle>/`). */
  tree: Descriptor;
  /** The tree layer's title: the single top-level name its entries live under. */
  rootTitle: string;
  /** Digest of the tree's uncompressed tar, when the manifest gives one (checked while unpacking). */
  treeDiffId?: Digest;
  /** Big files as raw layers (the first form, still pulled). */
  files: FileLayerPlan[];
  /** Big files as blob-directory tar layers (the image-volume form). */
  blobs: BlobLayerPlan[];
}

function descriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations && Object.keys(d.annotations).length) {
    out.annotations = Object.fromEntries(
      Object.keys(d.annotations)
        .sort()
        .map((k) => [k, d.annotations![k]]),
    );
  }
  return out;
}

/**
 * The config of the image-volume form: an OCI image config naming a platform and the layers' diff_ids, which is
 * what containerd needs to unpack an image volume (it matches the config's platform against the node's and builds
 * the snapshot from the diff_ids). Fixed key order: same layers and platform, same bytes.
 */
export function modelConfigBytes(platform: Platform, diffIds: readonly Digest[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
  );
}

/**
 * The manifest of a model: OCI image manifest with `artifactType`, the given config (modelConfigBytes'), the tree
 * layer first and then the blob layers in the given order. Fixed key order, sorted annotations: same layers, same
 * bytes.
 */
export function modelManifestBytes(config: Descriptor, tree: Descriptor, blobs: readonly Descriptor[]): Buffer {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    artifactType: MODEL_ARTIFACT_TYPE,
    config: descriptor(config),
    layers: [descriptor(tree), ...blobs.map(descriptor)],
  };
  return Buffer.from(JSON.stringify(manifest));
}

const BLOB_PATH = new RegExp(`^${MODEL_BLOBS_DIR.replace(".", "\\.")}/([0-9a-f]{64})$`);

/** The title of a big file's blob layer: `<root>/.blobs/<hex>`. */
export function blobTitle(hex: string, root = MODEL_ROOT_TITLE): string {
  return `${root}/${MODEL_BLOBS_DIR}/${hex}`;
}

/** The link the tree holds at `path` for a big file: relative, so that it resolves wherever the model is mounted. */
export function blobLink(path: string, hex: string): string {
  return `${"../".repeat(path.split("/").length - 1)}${MODEL_BLOBS_DIR}/${hex}/${MODEL_BLOB_FILE}`;
}

const BLOB_LINK = new RegExp(
  `^((?:\\.\\./)*)${MODEL_BLOBS_DIR.replace(".", "\\.")}/([0-9a-f]{64})/${MODEL_BLOB_FILE}$`,
);

/** The hex of the blob a link at `path` names as blobLink writes it (from that depth), else undefined. */
export function blobOfLink(path: string, target: string): string | undefined {
  const m = BLOB_LINK.exec(target);
  return m && m[1].length === 3 * (path.split("/").length - 1) ? m[2] : undefined;
}

function unsafe(where: string, title: unknown, why: string): PipelineError {
  return new PipelineError("E_MODEL_UNSAFE", `${where}: layer title ${JSON.stringify(title)} is not allowed: ${why}`);
}

/**
 * Checks a relative "/"-separated path (a title, minus the root): no absolute path, no "..", ".", empty
 * components, backslashes or NUL. Returns its components.
 */
export function checkRelativePath(path: string, where: string, title: string): string[] {
  if (path.startsWith("/")) throw unsafe(where, title, "it is an absolute path");
  if (path.includes("\0")) throw unsafe(where, title, "it contains a NUL byte");
  if (path.includes("\\")) throw unsafe(where, title, "it contains a backslash");
  const parts = path.split("/");
  for (const p of parts) {
    if (p === "..") throw unsafe(where, title, 'it has a ".." component');
    if (p === "" || p === ".") throw unsafe(where, title, 'it has an empty or "." component');
  }
  return parts;
}

function bad(where: string, why: string): PipelineError {
  return new PipelineError("E_MODEL_ARTIFACT", `${where}: ${why}`);
}

/** Whether a parsed manifest is a model: `artifactType` (OCI 1.1), or the config media type (ORAS 1.0 style). */
export function isModelManifest(m: Partial<Manifest>): boolean {
  return m.artifactType === MODEL_ARTIFACT_TYPE || m.config?.mediaType === MODEL_ARTIFACT_TYPE;
}

/**
 * Validates a model manifest and says what to write. `where` names the artifact in messages. Refuses (before
 * anything is downloaded) titles that are absolute or climb out, a missing or second tree layer, file layers
 * outside the tree's root or given twice, and layers that are not descriptors (src/oci/descriptor.ts: digest, size, media type).
 */
export function planModel(manifest: unknown, where: string): ModelPlan {
  if (!manifest || typeof manifest !== "object") throw bad(where, "the manifest is not a JSON object");
  const m = manifest as Partial<Manifest>;
  if (!isModelManifest(m)) {
    throw bad(
      where,
      `not a model artifact: artifactType is ${JSON.stringify(m.artifactType ?? null)} and config.mediaType ${JSON.stringify(m.config?.mediaType ?? null)}, expected ${MODEL_ARTIFACT_TYPE}`,
    );
  }
  if (!Array.isArray(m.layers)) throw bad(where, "the manifest has no layers array");
  const layers = m.layers.map((l: unknown, i) =>
    parseDescriptor(l, `layers[${i}]`, (p, at) =>
      bad(where, `${problemField(at, p)}: expected ${p.expected}, got ${JSON.stringify(p.value) ?? "nothing"}`),
    ),
  );
  // The directory tree is the first layer annotated for unpacking; further ones may only be blob directories under it.
  const tree = layers.find((l) => l.annotations?.[ANNOTATION_ORAS_UNPACK] === "true");
  if (!tree)
    throw bad(where, `expected a layer annotated ${ANNOTATION_ORAS_UNPACK}="true" (the directory tree), found none`);
  const rootTitle = tree.annotations?.[ANNOTATION_TITLE];
  if (typeof rootTitle !== "string" || rootTitle === "")
    throw bad(where, `the directory layer ${tree.digest} has no ${ANNOTATION_TITLE}`);
  if (checkRelativePath(rootTitle, where, rootTitle).length !== 1)
    throw unsafe(where, rootTitle, "the directory layer's title must be a single name");
  const diff = tree.annotations?.[ANNOTATION_ORAS_DIGEST];
  const seen = new Set<string>();
  const files: FileLayerPlan[] = [];
  const blobs: BlobLayerPlan[] = [];
  for (const l of layers) {
    if (l === tree) continue;
    const title = l.annotations?.[ANNOTATION_TITLE];
    if (typeof title !== "string" || title === "")
      throw bad(where, `layer ${l.digest} has no ${ANNOTATION_TITLE}: cannot tell where it goes`);
    checkRelativePath(title, where, title);
    if (title === rootTitle && l.annotations?.[ANNOTATION_ORAS_UNPACK] === "true")
      throw bad(where, `layer ${JSON.stringify(title)} is a directory layer given twice (the tree is ${tree.digest})`);
    if (!title.startsWith(`${rootTitle}/`))
      throw unsafe(where, title, `it is not under the model directory ${JSON.stringify(rootTitle + "/")}`);
    const path = title.slice(rootTitle.length + 1);
    if (seen.has(path)) throw bad(where, `two layers are titled ${JSON.stringify(title)}`);
    seen.add(path);
    if (l.annotations?.[ANNOTATION_ORAS_UNPACK] === "true") {
      // A blob directory (the image-volume form): only `.blobs/<hex>`, unpacked by the safe unpacker.
      const m = BLOB_PATH.exec(path);
      if (!m)
        throw bad(
          where,
          `layer ${JSON.stringify(title)} is a directory layer; besides ${JSON.stringify(rootTitle)} only ${JSON.stringify(`${rootTitle}/${MODEL_BLOBS_DIR}/<sha256 hex>`)} may be one`,
        );
      const d = l.annotations[ANNOTATION_ORAS_DIGEST];
      blobs.push({ hex: m[1], desc: l, diffId: d && isDigest(d) ? d : undefined });
    } else files.push({ path, desc: l });
  }
  // A file below another file's path cannot be written: refuse it up front.
  for (const f of files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (seen.has(parent))
        throw bad(
          where,
          `layer ${JSON.stringify(`${rootTitle}/${f.path}`)} lies under the file layer ${JSON.stringify(`${rootTitle}/${parent}`)}`,
        );
    }
  }
  return { tree, rootTitle, treeDiffId: diff && isDigest(diff) ? diff : undefined, files, blobs };
}
