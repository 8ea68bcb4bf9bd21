/**
 * `pushModel`: a directory to a model artifact in a registry. The tree becomes one reproducible tar+gzip layer
 * (src/layer/build.ts: sorted, mtime 0, owners 0, modes 0755/0644), big files become layers of their own, and
 * the whole goes up with the image pusher (src/registry/push.ts): blobs the registry has are skipped after a
 * HEAD, so a re-push of an unchanged model uploads nothing and a new version uploads only what changed.
 */
import { mkdtempSync, promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "../errors";
import { type Digest, fileDigest, sha256 } from "../oci/digest";
import { formatReference, type Reference } from "../oci/reference";
import { type Descriptor, type Manifest, MediaType, type Platform } from "../oci/types";
import { bufferBlob } from "../layer/blob";
import { buildLayer, type LayerInput, layerFromDescriptor } from "../layer/build";
import { streamedLayer } from "../layer/streamed";
import type { Layer, Image } from "../oci/model";
import type { Keychain } from "../registry-auth/keychain";
import { forEachLimited } from "../concurrency";
import { pushImage } from "../registry/push";
import type { ProgressSink } from "../registry/progress";
import {
  ANNOTATION_ORAS_DIGEST,
  ANNOTATION_ORAS_UNPACK,
  ANNOTATION_TITLE,
  blobLink,
  blobTitle,
  MODEL_BLOB_FILE,
  MODEL_BLOBS_DIR,
  MODEL_ROOT_TITLE,
  modelConfigBytes,
  modelManifestBytes,
} from "./artifact";
import { collectModel, type CollectedModel, DEFAULT_FILE_LAYER_THRESHOLD } from "./collect";

/**
 * Default platform of a model's config: containerd mounts an image volume only on a node whose platform matches
 * the config's (its CRI unpacks it with `platforms.Only(<the pod's platform>)`), and most clusters' nodes are
 * linux/amd64. Fixed, not the pushing machine's: the same directory gives the same digest everywhere.
 */
export const DEFAULT_MODEL_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

export interface BuildModelOptions {
  /** Non-executable files at least this big get layers of their own (default 1 MiB). */
  fileLayerThreshold?: number;
  /** The config's platform (default linux/amd64): the nodes' that mount the model as an image volume. */
  platform?: Platform;
}

export interface PushModelOptions extends BuildModelOptions {
  keychain: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Tags to put on the artifact besides the reference's own tag. */
  tags?: string[];
}

/** The layers, config, manifest and digest of a model directory, the tree layer written under `workDir`, the blob layers made again when read (nothing is pushed). */
export interface BuiltModel {
  manifestBytes: Buffer;
  configBytes: Buffer;
  digest: Digest;
  layers: Layer[];
}

function treeInputs(collected: CollectedModel, blobOf: ReadonlyMap<string, string>): LayerInput[] {
  const inputs: LayerInput[] = [{ dest: MODEL_ROOT_TITLE, dir: true, mode: 0o755 }];
  if (blobOf.size) inputs.push({ dest: `${MODEL_ROOT_TITLE}/${MODEL_BLOBS_DIR}`, dir: true, mode: 0o755 });
  for (const e of collected.tree) {
    const dest = `${MODEL_ROOT_TITLE}/${e.path}`;
    if (e.type === "dir") inputs.push({ dest, dir: true, mode: 0o755 });
    else if (e.type === "symlink") inputs.push({ dest, symlink: e.linkname! });
    else inputs.push({ dest, src: e.source! });
  }
  for (const [path, hex] of blobOf) inputs.push({ dest: `${MODEL_ROOT_TITLE}/${path}`, symlink: blobLink(path, hex) });
  return inputs;
}

/**
 * Builds the artifact of `dir` (its tree layer is written into `workDir`). Same directory and platform, same digest. Each
 * distinct big file becomes one blob layer (`model/.blobs/<sha256 hex>/data`, gzip level 0: weights do not
 * compress, and the bytes then cost no CPU), so an unchanged weight file is the same layer in every version.
 */
export async function buildModel(dir: string, workDir: string, opts: BuildModelOptions = {}): Promise<BuiltModel> {
  const platform = opts.platform ?? DEFAULT_MODEL_PLATFORM;
  const collected = collectModel(dir, opts.fileLayerThreshold ?? DEFAULT_FILE_LAYER_THRESHOLD);
  const reserved = [...collected.tree, ...collected.bigFiles].find(
    (e) => e.path === MODEL_BLOBS_DIR || e.path.startsWith(`${MODEL_BLOBS_DIR}/`),
  );
  if (reserved)
    throw new PipelineError(
      "E_MODEL_INPUT",
      `model directory ${dir}: ${JSON.stringify(reserved.path)}: the top-level name ${JSON.stringify(MODEL_BLOBS_DIR)} holds the model's big files in the artifact; rename it`,
    );
  const hexes: string[] = new Array(collected.bigFiles.length);
  await forEachLimited(collected.bigFiles, 2, async (f, i) => {
    hexes[i] = (await fileDigest(f.source)).slice("sha256:".length);
  });
  const blobOf = new Map(collected.bigFiles.map((f, i) => [f.path, hexes[i]]));
  const treeDesc = await buildLayer(treeInputs(collected, blobOf), join(workDir, "tree.tar.gz"), {
    mtime: 0,
    mediaType: MediaType.OCI_LAYER_GZIP,
  });
  treeDesc.annotations = {
    [ANNOTATION_ORAS_DIGEST]: treeDesc.diffId,
    [ANNOTATION_ORAS_UNPACK]: "true",
    [ANNOTATION_TITLE]: MODEL_ROOT_TITLE,
  };
  const tree = layerFromDescriptor(join(workDir, "tree.tar.gz"), treeDesc);
  const firstOf = new Map<string, string>(); // hex -> the first file (by path) with that content
  collected.bigFiles.forEach((f, i) => {
    if (!firstOf.has(hexes[i])) firstOf.set(hexes[i], f.source);
  });
  const distinct = [...firstOf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Each blob layer is made again when pushed (src/layer/streamed.ts), not copied to disk: a model's weights can be
  // as big as the free space.
  const blobs: Layer[] = new Array(distinct.length);
  await forEachLimited(distinct, 2, async ([hex, source], i) => {
    const title = blobTitle(hex);
    const layer = await streamedLayer([{ dest: `${title}/${MODEL_BLOB_FILE}`, src: source, mode: 0o644 }], {
      mtime: 0,
      level: 0,
      under: title,
      mediaType: MediaType.OCI_LAYER_GZIP,
    });
    blobs[i] = {
      ...layer,
      annotations: {
        [ANNOTATION_ORAS_DIGEST]: layer.diffId,
        [ANNOTATION_ORAS_UNPACK]: "true",
        [ANNOTATION_TITLE]: title,
      },
    };
  });
  const configBytes = modelConfigBytes(platform, [treeDesc.diffId, ...blobs.map((b) => b.diffId)]);
  const config: Descriptor = { mediaType: MediaType.OCI_CONFIG, digest: sha256(configBytes), size: configBytes.length };
  const manifestBytes = modelManifestBytes(config, tree, blobs);
  return { manifestBytes, configBytes, digest: sha256(manifestBytes), layers: [tree, ...blobs] };
}

/**
 * The image pusher takes an Image; a model artifact is one whose config is modelConfigBytes'. Only manifestBytes,
 * digest, mediaType, configBlob and layers are read by the pusher, so `config` is a placeholder.
 */
function asImage(built: BuiltModel): Image {
  return {
    manifestBytes: built.manifestBytes,
    manifest: JSON.parse(built.manifestBytes.toString("utf8")) as Manifest,
    digest: built.digest,
    mediaType: MediaType.OCI_MANIFEST,
    configBytes: built.configBytes,
    config: {},
    configBlob: bufferBlob(built.configBytes, MediaType.OCI_CONFIG),
    layers: built.layers,
  };
}

/** Pushes the directory `dir` as a model artifact to `ref` (its tag, if any, and `opts.tags` are set). */
export async function pushModel(
  dir: string,
  ref: Reference,
  opts: PushModelOptions,
): Promise<{ digest: Digest; reference: string }> {
  if (ref.digest) {
    throw new PipelineError(
      "E_BAD_REFERENCE",
      `model push target ${formatReference(ref)}: give HOST/REPOSITORY[:TAG]; the digest is the result of the push, not its target`,
    );
  }
  const workDir = mkdtempSync(join(tmpdir(), "model-push-"));
  try {
    const built = await buildModel(dir, workDir, opts);
    const tags = [...new Set([...(ref.tag ? [ref.tag] : []), ...(opts.tags ?? [])])];
    const result = await pushImage(
      asImage(built),
      { registry: ref.registry, repository: ref.repository, tags },
      {
        keychain: opts.keychain,
        insecure: opts.insecure,
        progress: opts.progress,
      },
    );
    return { digest: result.digest, reference: result.reference };
  } finally {
    await fsp.rm(workDir, { recursive: true, force: true });
  }
}
