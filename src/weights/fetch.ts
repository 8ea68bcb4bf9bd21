/**
 * Downloads a model artifact into a fresh directory: resolves the manifest, validates it (artifact.ts) before any
 * blob is fetched, unpacks the tree layer with the safe unpacker (src/layer/unpack.ts), then writes each file
 * layer through real directories only (never through a symlink) with O_EXCL|O_NOFOLLOW. Every blob is checked
 * against its digest and size as it streams (RegistryClient.openBlob); the tree also against its diff_id.
 * The caller renames the directory into place when this returns, and throws it away when it throws.
 */
import type { Digest } from "../oci/digest";
import {
  constants as fsc,
  lstatSync,
  mkdirSync,
  promises as fsp,
  readdirSync,
  readlinkSync,
  realpathSync,
} from "node:fs";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PipelineError } from "../errors";
import { formatReference, type Reference } from "../oci/reference";
import { type Descriptor, MediaType } from "../oci/types";
import type { Keychain } from "../registry-auth/keychain";
import { forEachLimited } from "../concurrency";
import { DEFAULT_LIMITS, ensureFreeSpace, formatSize, type LayerLimits } from "../layer/limits";
import { unpackLayers } from "../layer/unpack";
import { RegistryClient } from "../registry/client";
import { transferRateOf } from "../registry/transfer-rate";
import { type ProgressSink, silentProgress } from "../registry/progress";
import { openRemote } from "../registry/pull";
import {
  type BlobLayerPlan,
  blobTitle,
  type FileLayerPlan,
  MODEL_BLOB_FILE,
  MODEL_BLOBS_DIR,
  type ModelPlan,
  planModel,
} from "./artifact";
import { HostRoot } from "../layer/host-root";
import { ABSOLUTE_LEAVES, judgeKeptLink } from "../layer/kept-link";

export interface FetchOptions {
  keychain: Keychain;
  insecure?: boolean;
  progress?: ProgressSink;
  /** Limits on the directory layer's expansion and the free space to leave (src/layer/limits.ts). */
  limits?: LayerLimits;
}

export interface ResolvedModel {
  client: RegistryClient;
  ref: Reference;
  digest: Digest;
  manifestBytes: Buffer;
  plan: ModelPlan;
}

/** Fetches and validates the manifest `ref` names (by digest when it has one). */
export async function resolveModel(ref: Reference, opts: FetchOptions): Promise<ResolvedModel> {
  const transfer = opts.limits && transferRateOf(opts.limits);
  const client = new RegistryClient(ref.registry, { keychain: opts.keychain, insecure: opts.insecure, transfer });
  const name = formatReference(ref);
  const fetched = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? "latest");
  if (fetched.mediaType !== MediaType.OCI_MANIFEST) {
    throw new PipelineError(
      "E_MODEL_ARTIFACT",
      `model ${name}: expected an OCI image manifest (${MediaType.OCI_MANIFEST}), the registry answered ${JSON.stringify(fetched.mediaType)}`,
    );
  }
  let manifest: unknown; // planModel checks it (its layers' digests too)
  try {
    manifest = JSON.parse(fetched.bytes.toString("utf8"));
  } catch {
    throw new PipelineError("E_MODEL_ARTIFACT", `model ${name}: manifest ${fetched.digest} is not valid JSON`);
  }
  const plan = planModel(manifest, `model ${name} (${fetched.digest})`);
  return { client, ref, digest: fetched.digest, manifestBytes: fetched.bytes, plan };
}

/** A blob streamed from the registry (verified by the client) with progress reported, as a pull streams a layer. */
function openBlob(
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  label: string,
  progress: ProgressSink,
): Readable {
  const src = openRemote(client, repository, desc, label, progress);
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  src.on("error", (e) => out.destroy(e));
  out.on("close", () => src.destroy());
  return src.pipe(out);
}

function unsafe(where: string, message: string): PipelineError {
  return new PipelineError("E_MODEL_UNSAFE", `${where}: ${message}`);
}

/** The host directory of `parts` under `root`, created as needed; refuses anything but real directories on the way. */
function realDirUnder(root: string, parts: readonly string[], where: string, title: string): string {
  let cur = root;
  for (const p of parts) {
    cur = join(cur, p);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      mkdirSync(cur, { mode: 0o755 });
      continue;
    }
    if (!st.isDirectory())
      throw unsafe(
        where,
        `layer ${JSON.stringify(title)}: ${JSON.stringify(p)} on its path is a ${st.isSymbolicLink() ? "symlink" : "file"} in the directory layer, not a directory`,
      );
  }
  return cur;
}

/** Checks the unpacked tree: one real directory named `rootTitle`, and every symlink in it pointing inside it. */
function checkTree(root: string, rootTitle: string, where: string): void {
  const top = readdirSync(root);
  const extra = top.filter((n) => n !== rootTitle);
  if (extra.length)
    throw unsafe(
      where,
      `the directory layer has entries outside ${JSON.stringify(rootTitle + "/")}: ${extra
        .slice(0, 3)
        .map((n) => JSON.stringify(n))
        .join(", ")}`,
    );
  const st = top.length ? lstatSync(join(root, rootTitle)) : undefined;
  if (!st?.isDirectory())
    throw unsafe(where, `the directory layer does not hold a directory ${JSON.stringify(rootTitle)}`);
  const view = new HostRoot(realpathSync.native(join(root, rootTitle)));
  const walk = (host: string, rel: string) => {
    for (const name of readdirSync(host)) {
      const p = join(host, name);
      const path = rel ? `${rel}/${name}` : name;
      const s = lstatSync(p);
      if (s.isSymbolicLink()) {
        const target = readlinkSync(p);
        if (!judgeKeptLink(view, path.split("/"), target, ABSOLUTE_LEAVES).ok)
          throw unsafe(
            where,
            `symlink ${JSON.stringify(`${rootTitle}/${path}`)} -> ${JSON.stringify(target)} leads outside the model directory`,
          );
      } else if (s.isDirectory()) walk(p, path);
    }
  };
  walk(join(root, rootTitle), "");
}

async function writeFileLayer(
  r: ResolvedModel,
  modelDir: string,
  f: FileLayerPlan,
  where: string,
  progress: ProgressSink,
): Promise<string> {
  const parts = f.path.split("/");
  const title = `${r.plan.rootTitle}/${f.path}`;
  const dest = join(realDirUnder(modelDir, parts.slice(0, -1), where, title), parts[parts.length - 1]);
  // O_EXCL|O_NOFOLLOW: never through a link, never over something the tree layer wrote.
  let fh;
  try {
    fh = await fsp.open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new PipelineError(
        "E_MODEL_ARTIFACT",
        `${where}: layer ${JSON.stringify(title)}: the directory layer already has that path`,
      );
    throw e;
  }
  // The stream owns the handle from here and closes it, also on error.
  await pipeline(
    openBlob(r.client, r.ref.repository, f.desc, title, progress),
    fh.createWriteStream({ highWaterMark: 1 << 20 }),
  );
  await fsp.lutimes(dest, 0, 0);
  return dest;
}

/** The names in `dir`, which must be exactly `expected` (a blob layer's one path), else E_MODEL_UNSAFE. */
function only(dir: string, expected: string, where: string, title: string): string {
  const names = readdirSync(dir);
  if (names.length !== 1 || names[0] !== expected)
    throw unsafe(
      where,
      `blob layer ${JSON.stringify(title)} holds ${JSON.stringify(names.slice(0, 3))} where only ${JSON.stringify(expected)} may be`,
    );
  return join(dir, expected);
}

/**
 * Unpacks a blob layer (the image-volume form) into a staging directory of its own, checks that it holds exactly
 * `<root>/.blobs/<hex>/data`, a regular file, and moves `<hex>` into the model's `.blobs` (a real directory; never
 * over anything already there), so a blob layer can add its one file and nothing else.
 */
async function writeBlobLayer(
  r: ResolvedModel,
  root: string,
  modelDir: string,
  b: BlobLayerPlan,
  where: string,
  progress: ProgressSink,
  limits: LayerLimits,
): Promise<void> {
  const title = blobTitle(b.hex, r.plan.rootTitle);
  const staging = join(root, `.blob-${b.hex}`);
  try {
    await unpackLayers(
      [
        {
          digest: b.desc.digest,
          diffId: b.diffId,
          open: () => openBlob(r.client, r.ref.repository, b.desc, title, progress),
        },
      ],
      staging,
      { limits },
    );
  } catch (e) {
    if (e instanceof PipelineError && (e.code === "E_LAYER_TOO_LARGE" || e.code === "E_NO_SPACE"))
      throw new PipelineError(e.code, `${where}: blob layer ${JSON.stringify(title)}: ${e.message}`, { cause: e });
    throw e;
  }
  const blobs = only(only(staging, r.plan.rootTitle, where, title), MODEL_BLOBS_DIR, where, title);
  const dir = only(blobs, b.hex, where, title);
  const file = only(dir, MODEL_BLOB_FILE, where, title);
  if (!lstatSync(dir).isDirectory() || !lstatSync(file).isFile())
    throw unsafe(where, `blob layer ${JSON.stringify(title)}: ${MODEL_BLOB_FILE} is not a regular file in a directory`);
  const into = realDirUnder(modelDir, [MODEL_BLOBS_DIR], where, title);
  try {
    mkdirSync(join(into, b.hex), { mode: 0o755 }); // EEXIST: the tree (or another layer) has that path already
    await fsp.rename(dir, join(into, b.hex));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new PipelineError("E_MODEL_ARTIFACT", `${where}: layer ${JSON.stringify(title)}: that path exists already`);
    throw e;
  }
  await fsp.rm(staging, { recursive: true, force: true });
}

/**
 * Writes the model into `root/<rootTitle>` (`root` must be a fresh, empty directory) and returns that path and,
 * for each file written from a file layer, its digest (by path inside the model).
 *
 * Limits: the directory layer is unpacked under `limits` (its expansion and the free-space reserve); the file
 * layers are not expanded (their sizes are in the manifest and verified as they stream), so they only have to
 * fit: all of them are checked against the free space before anything is downloaded, and each again before it
 * is written (E_NO_SPACE).
 */
export async function fetchModelInto(
  r: ResolvedModel,
  root: string,
  progress: ProgressSink = silentProgress,
  limits: LayerLimits = DEFAULT_LIMITS,
): Promise<{ modelDir: string; fileDigests: Map<string, Digest> }> {
  const where = `model ${formatReference({ ...r.ref, tag: undefined, digest: r.digest })}`;
  const tree = r.plan.tree;
  mkdirSync(root, { recursive: true });
  const big = [...r.plan.files, ...r.plan.blobs];
  const fileBytes = big.reduce((n, f) => n + f.desc.size, 0);
  ensureFreeSpace(
    root,
    fileBytes,
    limits,
    `${where}: writing its ${big.length} file layer(s) (${formatSize(fileBytes)})`,
  );
  try {
    await unpackLayers(
      [
        {
          digest: tree.digest,
          diffId: r.plan.treeDiffId,
          open: () => openBlob(r.client, r.ref.repository, tree, "directory layer", progress),
        },
      ],
      root,
      { limits },
    );
  } catch (e) {
    if (e instanceof PipelineError && (e.code === "E_LAYER_TOO_LARGE" || e.code === "E_NO_SPACE")) {
      throw new PipelineError(e.code, `${where}: directory ${e.message}`, { cause: e });
    }
    throw e;
  }
  checkTree(root, r.plan.rootTitle, where);
  const modelDir = join(root, r.plan.rootTitle);
  // Each distinct blob is downloaded once; further paths with the same content are copies of the first.
  const byDigest = new Map<string, FileLayerPlan[]>();
  for (const f of r.plan.files) byDigest.set(f.desc.digest, [...(byDigest.get(f.desc.digest) ?? []), f]);
  let inFlight = 0; // declared bytes of the files being written now (part of them may be on disk already)
  const fits = (f: FileLayerPlan) =>
    ensureFreeSpace(
      modelDir,
      inFlight + f.desc.size,
      limits,
      `${where}: writing ${JSON.stringify(`${r.plan.rootTitle}/${f.path}`)} (${formatSize(f.desc.size)})`,
    );
  await forEachLimited([...byDigest.values()], 3, async ([first, ...rest]) => {
    fits(first);
    inFlight += first.desc.size;
    let written: string;
    try {
      written = await writeFileLayer(r, modelDir, first, where, progress);
    } finally {
      inFlight -= first.desc.size;
    }
    for (const f of rest) {
      fits(f);
      const parts = f.path.split("/");
      const dest = join(
        realDirUnder(modelDir, parts.slice(0, -1), where, `${r.plan.rootTitle}/${f.path}`),
        parts[parts.length - 1],
      );
      await fsp.copyFile(written, dest, fsc.COPYFILE_EXCL);
      await fsp.lutimes(dest, 0, 0);
    }
  });
  await forEachLimited(r.plan.blobs, 3, (b) => writeBlobLayer(r, root, modelDir, b, where, progress, limits));
  return { modelDir, fileDigests: new Map(r.plan.files.map((f) => [f.path, f.desc.digest])) };
}
