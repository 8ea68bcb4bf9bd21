/**
 * Models as OCI artifacts: `pushModel` stores a directory in a registry, `pullModel` writes it back, and
 * `syncModel` gives a run the host directory holding a deployment's model (cached by digest, mounted read-only).
 * They use the same registry client, keychains and progress as images.
 *
 * The format (ORAS conventions, so that a stock `oras pull REF -o OUT` rebuilds the directory as `OUT/model`, and an
 * image containerd can mount as a Kubernetes image volume):
 *   manifest  application/vnd.oci.image.manifest.v1+json with `artifactType`
 *             application/vnd.rules-pipeline.model.v1; no annotations (no timestamp).
 *   config    application/vnd.oci.image.config.v1+json: `{"architecture","os"[,"variant"],"rootfs":{"type":"layers",
 *             "diff_ids":[...]}}` — what containerd's CRI needs to mount an image volume (it unpacks the layers by
 *             their diff_ids, and only on a node whose platform matches: default linux/amd64, `--platform`).
 *   layer 1   the tree: application/vnd.oci.image.layer.v1.tar+gzip, every entry under `model/` (the directory
 *             itself included), annotated as `oras push` annotates a directory:
 *               org.opencontainers.image.title = "model"
 *               io.deis.oras.content.digest    = sha256 of the uncompressed tar
 *               io.deis.oras.content.unpack    = "true"
 *             It holds every directory (empty ones too), symlinks that stay inside, each file smaller than 1 MiB
 *             or executable, and for each other file (non-executable, >= 1 MiB: weights) a relative symlink to
 *             `.blobs/<its sha256 hex>/data`.
 *   layers 2+ one per distinct big file, sorted by its hex: a tar+gzip (level 0: weights do not compress, so the
 *             bytes cost no CPU) holding only `model/.blobs/<hex>/` and `model/.blobs/<hex>/data`, titled
 *             `model/.blobs/<hex>` and annotated for unpacking. An unchanged weight file is the same layer in
 *             every version and is pushed once. (`oras pull` unpacks a layer only inside its title's directory and
 *             containerd only unpacks tar layers: a file's own path cannot be a layer both accept, its blob
 *             directory can; Hugging Face's cache links snapshots to blobs the same way.)
 * Why this split: one tar keeps modes, symlinks and empty directories (which single-file layers lose) and costs
 * one request for many small files; weights outside it deduplicate across versions and download in parallel.
 * Where it lands: an image volume (containerd) and `oras pull` (the init container) give the layout above, links
 * and `.blobs` included, as does `syncModel` (the local runner's cache, mounted read-only: the same files at the
 * same paths as on the cluster); `pipeline model pull` puts each big file back at its path and drops `.blobs`, so
 * it gives back the directory that was pushed. A model directory with a top-level `.blobs` is refused at push.
 * The first form (big files as raw application/octet-stream layers titled `model/<path>`, the OCI empty config) is
 * still pulled; containerd cannot mount it.
 * Kubernetes: an init container running the oras image (`oras pull REF -o /models`) into an emptyDir, or an image
 * volume, mounted in the main container with `subPath: model` at the model's path, gives the same directory.
 *
 * Reproducible: entries sorted bytewise, mtime 0, uid/gid 0, no user/group names, modes 0755/0644 (x bit kept),
 * gzip header without time, name or host OS (src/layer/build.ts), no timestamp in the manifest. The same
 * directory gives the same manifest digest wherever it is and whenever it was copied (the tree's gzip bytes
 * depend on zlib's output, fixed for a given Node release; the big-file layers are stored, level-0 deflate blocks).
 *
 * Symlinks (collect.ts): kept as links when they stay inside the directory; followed when they lead outside to
 * a regular file (Hugging Face snapshots point into ../../blobs); refused when they lead outside to anything
 * else. Sockets, FIFOs and devices are refused.
 *
 * Registry: the CNCF distribution 2.8 registry accepts this OCI 1.1 manifest (artifactType + image config) and
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
export { pushModel, buildModel, DEFAULT_MODEL_PLATFORM, type PushModelOptions } from "./push";
export { pullModel, type PullModelOptions } from "./pull";
export { syncModel, type SyncModelOptions } from "./sync";
