/**
 * Builds a reproducible layer blob from files on disk and in memory.
 *
 * The same inputs give the same bytes whatever the host, the checkout path, the file system's mtimes,
 * owners or directory order: entries are sorted by path bytewise, every parent directory is an explicit
 * entry, owners are 0 (unless given), one mtime is used throughout (`SOURCE_DATE_EPOCH`, else 0), file
 * modes are reduced to 0755/0644 and the gzip stream is cut into blocks at fixed input offsets (./gzip.ts), its
 * header carrying no time and OS 3.
 *
 * Streams end to end: tar -> sha256 (diffId) -> parallel gzip -> sha256 (digest) -> temp file -> rename. The inputs
 * become entries in ./collect.ts.
 */
import { promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PipelineError } from "../errors";
import type { Digest } from "../oci/digest";
import { VerifyStream } from "../oci/verifying-stream";
import { MediaType } from "../oci/types";
import { fileLayer } from "./blob";
import { ParallelGzip } from "./gzip";
import { collectEntries, type LayerInput, normalizeDest } from "./collect";
import type { Layer } from "../oci/model";
import { type TarEntry, tarStream } from "./tar";
import { openWriteStream } from "../open-write-stream";

export type { LayerInput };

export interface LayerDescriptor {
  /** sha256 of the blob (compressed bytes). */
  digest: Digest;
  /** Size of the blob in bytes. */
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  mediaType: string;
  annotations?: Record<string, string>;
}

export interface BuildLayerOptions {
  /** Entry mtime in seconds since the epoch. Default: SOURCE_DATE_EPOCH if set, else 0. */
  mtime?: number;
  /** gzip level 0-9, default 6. */
  level?: number;
  /** Blocks deflated at once (see ./gzip.ts); default: twice the cores, at most 4. The bytes never depend on it. */
  gzipConcurrency?: number;
  /** Store a file with the same content, mode and owner as an earlier one as a hard link to it (./tar-links.ts). */
  linkDuplicates?: boolean;
  /** Default application/vnd.oci.image.layer.v1.tar+gzip. A plain `...tar` media type writes the tar uncompressed. */
  mediaType?: string;
  annotations?: Record<string, string>;
  /**
   * Writes only this directory and what is under it: the parent directories above it are left out (a layer that
   * extends a directory another layer makes; `oras pull` unpacks a layer only inside its title's directory).
   */
  under?: string;
}

const UNCOMPRESSED_TYPES = new Set<string>([MediaType.OCI_LAYER, "application/vnd.docker.image.rootfs.diff.tar"]);
const GZIP_TYPES = new Set<string>([MediaType.OCI_LAYER_GZIP, MediaType.DOCKER_LAYER_GZIP]);

/**
 * The mtime to use: `explicit` if given, else SOURCE_DATE_EPOCH from `env`, else 0. Both must be
 * non-negative integers (seconds).
 */
export function resolveMtime(explicit?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (explicit !== undefined) {
    if (!Number.isSafeInteger(explicit) || explicit < 0) {
      throw new PipelineError("E_MTIME", `mtime must be a non-negative integer number of seconds, got ${explicit}`);
    }
    return explicit;
  }
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return 0;
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new PipelineError(
      "E_SOURCE_DATE_EPOCH",
      `SOURCE_DATE_EPOCH must be a non-negative integer (seconds since 1970-01-01), got ${JSON.stringify(v)}`,
    );
  }
  return Number(v);
}

/** A layer's entries and how to write them (prepareLayer's: inputs checked, entries collected). */
export interface PreparedLayer {
  entries: TarEntry[];
  mtime: number;
  level: number;
  mediaType: string;
  compress: boolean;
  gzipConcurrency?: number;
  linkDuplicates?: boolean;
}

/** Checks the options and collects the entries of a layer (nothing is written). */
export async function prepareLayer(files: readonly LayerInput[], opts: BuildLayerOptions = {}): Promise<PreparedLayer> {
  const mtime = resolveMtime(opts.mtime);
  const level = opts.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw new PipelineError("E_LAYER_INPUT", `gzip level must be an integer 0-9, got ${level}`);
  const mediaType = opts.mediaType ?? MediaType.OCI_LAYER_GZIP;
  const compress = !UNCOMPRESSED_TYPES.has(mediaType);
  if (compress && !GZIP_TYPES.has(mediaType)) {
    throw new PipelineError(
      "E_LAYER_INPUT",
      `layer media type ${JSON.stringify(mediaType)} is not supported: use a gzip or uncompressed tar layer type`,
    );
  }
  const all = await collectEntries(files);
  const under = opts.under === undefined ? undefined : normalizeDest(opts.under);
  const inside = (path: string) => under === undefined || path === under || path.startsWith(`${under}/`);
  const outside = all.find((e) => !inside(e.path) && !under!.startsWith(`${e.path}/`));
  if (outside)
    throw new PipelineError(
      "E_LAYER_INPUT",
      `layer entry ${JSON.stringify(outside.path)} is outside ${JSON.stringify(under)}, the only directory this layer writes`,
    );
  return {
    entries: all.filter((e) => inside(e.path)),
    mtime,
    level,
    mediaType,
    compress,
    gzipConcurrency: opts.gzipConcurrency,
    linkDuplicates: opts.linkDuplicates,
  };
}

/** The stages that make a prepared layer's bytes: the tar, `tarTap` (a hash of the uncompressed tar), then gzip. */
export function layerStages(p: PreparedLayer, tarTap: Transform): (Readable | Transform)[] {
  const tar = tarStream(p.entries, { mtime: p.mtime, linkDuplicates: p.linkDuplicates });
  return p.compress
    ? [tar, tarTap, new ParallelGzip({ level: p.level, concurrency: p.gzipConcurrency })]
    : [tar, tarTap];
}

/** Writes `files` as a layer blob at `outPath` (atomically: temp file + rename) and describes it. */
export async function buildLayer(
  files: readonly LayerInput[],
  outPath: string,
  opts: BuildLayerOptions = {},
): Promise<LayerDescriptor> {
  const p = await prepareLayer(files, opts);
  await fsp.mkdir(dirname(outPath), { recursive: true });
  const tmp = join(dirname(outPath), `.${basename(outPath)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const tarHash = new VerifyStream();
  const blobHash = new VerifyStream();
  try {
    const out = await openWriteStream(tmp, { mode: 0o644, highWaterMark: 1 << 20 });
    await pipeline([...layerStages(p, tarHash), ...(p.compress ? [blobHash] : []), out]);
    await fsp.rename(tmp, outPath);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    if (e instanceof PipelineError) throw e;
    throw new PipelineError("E_LAYER_WRITE", `cannot write layer ${outPath}: ${(e as Error).message}`, { cause: e });
  }
  return describe(p, tarHash, p.compress ? blobHash : tarHash, opts.annotations);
}

/** The descriptor of a layer whose tar went through `tarHash` and whose blob through `blobHash`. */
export function describe(
  p: PreparedLayer,
  tarHash: VerifyStream,
  blobHash: VerifyStream,
  annotations?: Record<string, string>,
): LayerDescriptor {
  const desc: LayerDescriptor = {
    digest: blobHash.digest(),
    size: blobHash.bytes,
    diffId: tarHash.digest(),
    mediaType: p.mediaType,
  };
  if (annotations && Object.keys(annotations).length) desc.annotations = { ...annotations };
  return desc;
}

/** The Layer backed by a blob `buildLayer` wrote. */
export function layerFromDescriptor(path: string, desc: LayerDescriptor): Layer {
  return fileLayer(path, desc);
}
