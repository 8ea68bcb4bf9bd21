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
import { type Manifest, MediaType } from "../oci/types";
import { bufferBlob, fileLayer } from "../layer/blob";
import { buildLayer, type LayerInput, layerFromDescriptor } from "../layer/build";
import type { Layer, Image } from "../oci/model";
import type { Keychain } from "../registry-auth/keychain";
import { forEachLimited } from "../concurrency";
import { pushImage } from "../registry/push";
import type { ProgressSink } from "../registry/progress";
import {
  ANNOTATION_ORAS_DIGEST,
  ANNOTATION_ORAS_UNPACK,
  ANNOTATION_TITLE,
  EMPTY_CONFIG,
  EMPTY_CONFIG_BYTES,
  MODEL_FILE_MEDIA_TYPE,
  MODEL_ROOT_TITLE,
  modelManifestBytes,
} from "./artifact";
import { collectModel, type CollectedModel, DEFAULT_FILE_LAYER_THRESHOLD } from "./collect";

export interface PushModelOptions {
  keychain: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Tags to put on the artifact besides the reference's own tag. */
  tags?: string[];
  /** Non-executable files at least this big get layers of their own (default 1 MiB). */
  fileLayerThreshold?: number;
}

/** The layers, manifest and digest of a model directory, built under `workDir` (nothing is pushed). */
export interface BuiltModel {
  manifestBytes: Buffer;
  digest: Digest;
  layers: Layer[];
}

function treeInputs(collected: CollectedModel): LayerInput[] {
  const inputs: LayerInput[] = [{ dest: MODEL_ROOT_TITLE, dir: true, mode: 0o755 }];
  for (const e of collected.tree) {
    const dest = `${MODEL_ROOT_TITLE}/${e.path}`;
    if (e.type === "dir") inputs.push({ dest, dir: true, mode: 0o755 });
    else if (e.type === "symlink") inputs.push({ dest, symlink: e.linkname! });
    else inputs.push({ dest, src: e.source! });
  }
  return inputs;
}

/** Builds the artifact of `dir` (the tree layer is written into `workDir`). Same directory, same digest. */
export async function buildModel(
  dir: string,
  workDir: string,
  threshold = DEFAULT_FILE_LAYER_THRESHOLD,
): Promise<BuiltModel> {
  const collected = collectModel(dir, threshold);
  const treeDesc = await buildLayer(treeInputs(collected), join(workDir, "tree.tar.gz"), {
    mtime: 0,
    mediaType: MediaType.OCI_LAYER_GZIP,
  });
  treeDesc.annotations = {
    [ANNOTATION_ORAS_DIGEST]: treeDesc.diffId,
    [ANNOTATION_ORAS_UNPACK]: "true",
    [ANNOTATION_TITLE]: MODEL_ROOT_TITLE,
  };
  const tree = layerFromDescriptor(join(workDir, "tree.tar.gz"), treeDesc);
  const files: Layer[] = new Array(collected.bigFiles.length);
  await forEachLimited(collected.bigFiles, 2, async (f, i) => {
    const digest = await fileDigest(f.source);
    files[i] = fileLayer(f.source, {
      digest,
      size: f.size,
      mediaType: MODEL_FILE_MEDIA_TYPE,
      diffId: digest,
      annotations: { [ANNOTATION_TITLE]: `${MODEL_ROOT_TITLE}/${f.path}` },
    });
  });
  const manifestBytes = modelManifestBytes(tree, files);
  return { manifestBytes, digest: sha256(manifestBytes), layers: [tree, ...files] };
}

/**
 * The image pusher takes an Image; a model artifact is one with the empty config. Only manifestBytes, digest,
 * mediaType, configBlob and layers are read by the pusher, so `config` is a placeholder.
 */
function asImage(built: BuiltModel): Image {
  return {
    manifestBytes: built.manifestBytes,
    manifest: JSON.parse(built.manifestBytes.toString("utf8")) as Manifest,
    digest: built.digest,
    mediaType: MediaType.OCI_MANIFEST,
    configBytes: EMPTY_CONFIG_BYTES,
    config: {},
    configBlob: bufferBlob(EMPTY_CONFIG_BYTES, EMPTY_CONFIG.mediaType),
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
    const built = await buildModel(dir, workDir, opts.fileLayerThreshold);
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
