/**
 * Models as OCI artifacts: `pushModel` stores a directory in a registry, `pullModel` writes it back, and
 * `syncModel` gives a run the host directory holding a deployment's model (cached by digest, mounted read-only).
 * They use the same registry client, keychains and progress as images.
 *
 * The format (ORAS conventions, so that a stock `oras pull REF -o OUT` rebuilds the directory as `OUT/model`):
 *   manifest  application/vnd.oci.image.manifest.v1+json with `artifactType`
 *             application/vnd.rules-pipeline.model.v1 and the OCI empty config
 *             (application/vnd.oci.empty.v1+json, `{}`, sha256:44136fa3...); no annotations (no timestamp).
 *   layer 1   the tree: application/vnd.oci.image.layer.v1.tar+gzip, every entry under `model/` (the directory
 *             itself included), annotated as `oras push` annotates a directory:
 *               org.opencontainers.image.title = "model"
 *               io.deis.oras.content.digest    = sha256 of the uncompressed tar
 *               io.deis.oras.content.unpack    = "true"
 *             It holds every directory (empty ones too), symlinks that stay inside, and each file smaller than
 *             1 MiB or executable.
 *   layers 2+ each other file (non-executable, >= 1 MiB: weights) as its own layer, its bytes as they are
 *             (application/octet-stream), titled `model/<relative path>`, sorted by path. A blob's digest is the
 *             file's sha256, so an unchanged weight file is the same blob in every version and is pushed once.
 * Why this split: one tar keeps modes, symlinks and empty directories (which single-file layers lose) and costs
 * one request for many small files; weights outside it deduplicate across versions and download in parallel.
 * Kubernetes: an init container running the oras image (`oras pull REF -o /models`) into an emptyDir, mounted in
 * the main container with `subPath: model` at the model's path, gives the same directory.
 *
 * Reproducible: entries sorted bytewise, mtime 0, uid/gid 0, no user/group names, modes 0755/0644 (x bit kept),
 * gzip header without time, name or host OS (src/layer/build.ts), no timestamp in the manifest. The same
 * directory gives the same manifest digest wherever it is and whenever it was copied (the tree's gzip bytes
 * depend on zlib's output, fixed for a given Node release; the big-file layers do not depend on it at all).
 *
 * Symlinks (collect.ts): kept as links when they stay inside the directory; followed when they lead outside to
 * a regular file (Hugging Face snapshots point into ../../blobs); refused when they lead outside to anything
 * else. Sockets, FIFOs and devices are refused.
 *
 * Registry: the CNCF distribution 2.8 registry accepts this OCI 1.1 manifest (artifactType + empty config) and
 * serves its bytes unchanged (checked by test/e2e/model-artifacts.test.ts with skopeo), so no fallback to the
 * ORAS 1.0 style (config.mediaType = artifact type) is written. Pulling accepts both styles.
 *
 * Pulling (fetch.ts) validates the whole manifest before fetching a blob: titles must be relative, without
 * "..", "." or empty components, files under `model/`, no title twice; the tree is unpacked by the safe
 * unpacker (no `..`, no escaping links), must hold only `model/`, and every link in it must stay inside; file
 * layers are written through real directories only. Every blob is verified against its digest and size.
 */
export { MODEL_ARTIFACT_TYPE, MODEL_FILE_MEDIA_TYPE, MODEL_ROOT_TITLE } from "./artifact";
export { DEFAULT_FILE_LAYER_THRESHOLD } from "./collect";
export { defaultModelCacheDir } from "./cache";
export { pushModel, buildModel, PushModelOptions } from "./push";
export { pullModel, PullModelOptions } from "./pull";
export { syncModel, SyncModelOptions } from "./sync";
