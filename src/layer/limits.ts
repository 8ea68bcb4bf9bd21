/**
 * Limits on what reading or unpacking an image's layers may cost, so a small hostile layer cannot exhaust memory,
 * time or disk (decompression bombs, PAX header floods). Each limit has a default, a flag and an environment
 * variable (the flag wins); errors name the layer, the limit and both ways to raise it.
 *
 *  - maxUnpackedSize (--max-unpacked-size, PIPELINE_MAX_UNPACKED_SIZE; default 20 GiB): uncompressed bytes of all
 *    of one image's layers together (their tars). Large CUDA/ML images reach 10-15 GiB; 20 GiB leaves room.
 *  - maxLayerRatio (--max-layer-ratio, PIPELINE_MAX_LAYER_RATIO; default 100): how many times its compressed bytes
 *    (read so far) a layer may expand, checked once it has expanded past 128 MiB (RATIO_FLOOR). gzip gets 2-4x on
 *    binaries, 4-10x on text and rarely beyond 30x on real files; only long runs of one byte reach ~1000x, which is
 *    what a bomb is made of (6 GiB of zeros fit in 6.3 MB). So 100 refuses such a bomb after ~128 MiB, whatever
 *    the per-image cap, without refusing real layers. What it can refuse: a layer holding a huge file of zeros
 *    (a sparse /var/log/lastlog left by `useradd` with a large uid, a preallocated disk image); raise the ratio.
 *    The same ratio holds for the image as a whole (all its layers' expanded bytes against all their compressed
 *    bytes, an uncompressed layer counting its own size), checked once the image has expanded past 512 MiB
 *    (IMAGE_RATIO_FLOOR): a bomb split into many layers each under RATIO_FLOOR is refused after ~512 MiB too.
 *  - minFreeSpace (--min-free-space, PIPELINE_MIN_FREE_SPACE; default 1 GiB): unpacking refuses to go on when the
 *    destination's file system would have less than this left, checked before each layer and every 64 MiB
 *    (DISK_CHECK_INTERVAL) of it (so it refuses when free space is below the reserve plus one interval); pulls
 *    check it against the manifest's sizes before downloading (src/registry/pull.ts pullToLayout).
 *  - maxLayerEntries (--max-layer-entries, PIPELINE_MAX_LAYER_ENTRIES; default 200,000) and maxImageEntries
 *    (--max-image-entries, PIPELINE_MAX_IMAGE_ENTRIES; default 300,000): tar entries (files, directories, links,
 *    whiteouts, anything but PAX/long-name headers) of one layer and of all of an image's layers. Empty files cost
 *    512 bytes of tar and next to nothing compressed (a million fit in 6 MB), yet each is an inode on disk and an
 *    entry in memory; real images hold thousands to tens of thousands. Within these defaults `run` and
 *    `verify-image` stay under 300 MB of memory (verify-image: ~220 MB at 300,000); raising them costs ~0.5 KB
 *    of memory per entry.
 *  - minTransferRate (--min-transfer-rate, PIPELINE_MIN_TRANSFER_RATE; default 1 KiB/s) over transferRateWindow
 *    (PIPELINE_TRANSFER_RATE_WINDOW only; default 30s): a blob downloaded from a registry must arrive at least this
 *    fast, averaged over each window of time spent waiting for the registry (time a slow consumer holds the stream
 *    paused does not count: src/registry/transfer-rate.ts). A registry dripping a byte every 10 s (never idle long
 *    enough for the 60 s socket timeout) is cut after one window, E_REGISTRY_TOO_SLOW. 1 KiB/s is below any real
 *    link (GPRS moves ~5 KB/s); 0 turns the check off. The same rate holds for every response body read whole
 *    (manifests, indexes, referrer listings, tag lists, token responses, error bodies: src/registry/http.ts).
 *  - responseHeadersTimeout (PIPELINE_RESPONSE_HEADERS_TIMEOUT only; default 60s): a registry's response headers must
 *    have arrived this long after the request was sent, or the request fails with E_REGISTRY_TOO_SLOW (a registry
 *    sending them a byte at a time never trips the socket's idle timeout).
 *  - maxTarMetadata (PIPELINE_MAX_TAR_METADATA only; default 256 MiB): PAX and GNU long-name data in one layer
 *    (tar-read.ts). Real layers carry a few hundred bytes per entry at most; per-entry (1 MiB) and global-record
 *    (64 KiB) caps bound memory, this one bounds the time a flood of headers costs.
 * Sizes are written as `pipeline cache` takes them (src/cache/units.ts): 300MiB, 20GiB, 1.5G (binary), 500MB
 * (decimal), bytes.
 *
 * Errors: E_LAYER_TOO_LARGE (over a size, ratio or entry count), E_NO_SPACE (the reserve), E_REGISTRY_TOO_SLOW (the
 * rate, raised by src/registry/client.ts), E_USAGE (exit 2) for a bad value.
 */
import { statfsSync } from "node:fs";
import { formatBytes as formatSize, parseDuration, parseSize } from "../units";
import { PipelineError } from "../errors";

export { formatSize };

export interface LayerLimits {
  /** Uncompressed bytes of all layers of one image together. */
  maxUnpackedSize: number;
  /** Most uncompressed/compressed ratio of a layer, checked past RATIO_FLOOR bytes. */
  maxLayerRatio: number;
  /** Bytes to leave free on the file system being unpacked into. */
  minFreeSpace: number;
  /** PAX / GNU long-name bytes in one layer. */
  maxTarMetadata: number;
  /** Tar entries in one layer. */
  maxLayerEntries: number;
  /** Tar entries in all of an image's layers. */
  maxImageEntries: number;
  /** Bytes per second a registry must send a blob while we read it (0: unchecked). */
  minTransferRate: number;
  /** Milliseconds of reading over which minTransferRate is averaged. */
  transferRateWindow: number;
  /** Milliseconds after a request is sent within which its response headers must have arrived. */
  responseHeadersTimeout: number;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export const DEFAULT_LIMITS: Readonly<LayerLimits> = Object.freeze({
  maxUnpackedSize: 20 * GiB,
  maxLayerRatio: 100,
  minFreeSpace: GiB,
  maxTarMetadata: 256 * MiB,
  maxLayerEntries: 200_000,
  maxImageEntries: 300_000,
  minTransferRate: 1024,
  transferRateWindow: 30_000,
  responseHeadersTimeout: 60_000,
});

/** A layer is held to maxLayerRatio only once it has expanded past this. */
export const RATIO_FLOOR = 128 * MiB;
/** An image (all its layers together) is held to maxLayerRatio only once it has expanded past this. */
export const IMAGE_RATIO_FLOOR = 512 * MiB;
/** Free space is checked again after this many uncompressed bytes. */
export const DISK_CHECK_INTERVAL = 64 * MiB;

/** The flag and environment variable of each limit (no flag: environment only). */
export const LIMIT_KNOBS: Record<keyof LayerLimits, { flag?: string; env: string; kind: keyof typeof PARSERS }> = {
  maxUnpackedSize: { flag: "--max-unpacked-size", env: "PIPELINE_MAX_UNPACKED_SIZE", kind: "size" },
  maxLayerRatio: { flag: "--max-layer-ratio", env: "PIPELINE_MAX_LAYER_RATIO", kind: "ratio" },
  minFreeSpace: { flag: "--min-free-space", env: "PIPELINE_MIN_FREE_SPACE", kind: "size" },
  maxTarMetadata: { env: "PIPELINE_MAX_TAR_METADATA", kind: "size" },
  maxLayerEntries: { flag: "--max-layer-entries", env: "PIPELINE_MAX_LAYER_ENTRIES", kind: "count" },
  maxImageEntries: { flag: "--max-image-entries", env: "PIPELINE_MAX_IMAGE_ENTRIES", kind: "count" },
  minTransferRate: { flag: "--min-transfer-rate", env: "PIPELINE_MIN_TRANSFER_RATE", kind: "rate" },
  transferRateWindow: { env: "PIPELINE_TRANSFER_RATE_WINDOW", kind: "duration" },
  responseHeadersTimeout: { env: "PIPELINE_RESPONSE_HEADERS_TIMEOUT", kind: "duration" },
};

/** "raise it with --flag or $ENV" for messages. */
export function howToSet(limit: keyof LayerLimits): string {
  const k = LIMIT_KNOBS[limit];
  return k.flag ? `${k.flag} or $${k.env}` : `$${k.env}`;
}

function usage(message: string): PipelineError {
  return new PipelineError("E_USAGE", message, { exitCode: 2 });
}

function parseRatio(text: string, what: string): number {
  const n = Number(text.trim());
  if (!/^\s*[0-9]+(\.[0-9]+)?\s*$/.test(text) || !(n >= 1))
    throw usage(`${what}: expected a number >= 1, got ${JSON.stringify(text)}`);
  return n;
}

function parseCount(text: string, what: string): number {
  const n = Number(text.trim());
  if (!/^\s*[0-9]+\s*$/.test(text) || !(n >= 1) || !Number.isSafeInteger(n))
    throw usage(`${what}: expected a whole number >= 1, got ${JSON.stringify(text)}`);
  return n;
}

/** Bytes per second: a size, optionally followed by `/s` (`64KiB/s`, `1MB`); 0 turns the check off. */
function parseRate(text: string, what: string): number {
  return parseSize(text.replace(/\/s\s*$/i, ""), what);
}

/** A duration like `30s` or `2m`, more than zero. */
function parseWindow(text: string, what: string): number {
  const ms = parseDuration(text, what);
  if (!(ms > 0)) throw usage(`${what}: expected a duration more than zero like 30s, got ${JSON.stringify(text)}`);
  return ms;
}

const PARSERS = { size: parseSize, ratio: parseRatio, count: parseCount, rate: parseRate, duration: parseWindow };

/**
 * The limits in force: each from its flag (`flags`, keyed like LayerLimits; a string or, for a ratio, a number),
 * else its environment variable, else the default. A bad value is E_USAGE naming the flag or variable.
 */
export function resolveLimits(
  flags: Partial<Record<keyof LayerLimits, string | number | undefined>> = {},
  env: NodeJS.ProcessEnv = {},
): LayerLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(LIMIT_KNOBS) as (keyof LayerLimits)[]) {
    const knob = LIMIT_KNOBS[key];
    const flag = flags[key];
    const fromEnv = env[knob.env];
    const [value, what] =
      flag !== undefined
        ? [String(flag), knob.flag ?? key]
        : fromEnv !== undefined && fromEnv !== ""
          ? [fromEnv, `$${knob.env}`]
          : [undefined, ""];
    if (value === undefined) continue;
    out[key] = PARSERS[knob.kind](value, what);
  }
  return out;
}

/** Bytes available to us on the file system holding `path` (statfs: blocks available to unprivileged users). */
export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Throws E_NO_SPACE unless writing `bytes` more into `dir` leaves limits.minFreeSpace free. `what` says what is
 * written ("layer sha256:...: unpacking it"); `free` is for tests.
 */
export function ensureFreeSpace(
  dir: string,
  bytes: number,
  limits: LayerLimits,
  what: string,
  free: (path: string) => number = freeBytes,
): void {
  const available = free(dir);
  if (available - bytes >= limits.minFreeSpace) return;
  if (limits.minFreeSpace === 0) {
    throw new PipelineError(
      "E_NO_SPACE",
      `${what} into ${dir} does not fit: it needs ${formatSize(bytes)}, and ${formatSize(available)} is free; free some space`,
    );
  }
  throw new PipelineError(
    "E_NO_SPACE",
    `${what} into ${dir} would leave less than ${formatSize(limits.minFreeSpace)} free (${formatSize(available)} free now); ` +
      `free some space, or lower the reserve with ${howToSet("minFreeSpace")}`,
  );
}

/** The limits' command-line flags, as the CLI parser hands them over. */
export interface LimitFlags {
  "max-unpacked-size"?: string;
  "max-layer-ratio"?: string;
  "min-free-space"?: string;
  "max-layer-entries"?: string;
  "max-image-entries"?: string;
  "min-transfer-rate"?: string;
}

/** resolveLimits from a command's flags and environment. */
export function limitsFromFlags(a: LimitFlags, env: NodeJS.ProcessEnv): LayerLimits {
  const flags = {
    maxUnpackedSize: a["max-unpacked-size"],
    maxLayerRatio: a["max-layer-ratio"],
    minFreeSpace: a["min-free-space"],
  };
  const entries = { maxLayerEntries: a["max-layer-entries"], maxImageEntries: a["max-image-entries"] };
  return resolveLimits({ ...flags, ...entries, minTransferRate: a["min-transfer-rate"] }, env);
}

/** Counts one layer's expansion; `add` throws when a limit is passed. */
export interface ExpansionMeter {
  /** `bytes` more uncompressed bytes, after `compressedSoFar` compressed bytes read (undefined: not compressed). */
  add(bytes: number, compressedSoFar?: number): void;
  /** One more tar entry. */
  entry(): void;
}

/**
 * One image's expansion budget, shared by its layers: the total against maxUnpackedSize, each layer against
 * maxLayerRatio and, when `diskPath` is given (unpacking, not just reading), the file system holding it against
 * minFreeSpace. `free` is for tests (default: statfs of `diskPath`).
 */
export class ExpansionBudget {
  /** Uncompressed bytes of the layers so far. */
  used = 0;
  /** Compressed bytes of the layers so far (an uncompressed layer: its own size). */
  compressed = 0;
  /** Tar entries of the layers so far. */
  entries = 0;

  constructor(
    readonly limits: LayerLimits = DEFAULT_LIMITS,
    private readonly disk?: { path: string; free?: (path: string) => number },
  ) {}

  /** Free space for the next DISK_CHECK_INTERVAL bytes, when unpacking. */
  private checkDisk(layer: string): void {
    if (this.disk)
      ensureFreeSpace(this.disk.path, DISK_CHECK_INTERVAL, this.limits, `${layer}: unpacking it`, this.disk.free);
  }

  /** Starts a layer: checks the free space, and returns its meter. `layer` begins its errors ("layer sha256:..."). */
  layer(layer: string): ExpansionMeter {
    this.checkDisk(layer);
    let out = 0;
    let nextDiskCheck = DISK_CHECK_INTERVAL;
    const below = this.compressed;
    let entries = 0;
    const { maxUnpackedSize, maxLayerRatio, maxLayerEntries, maxImageEntries } = this.limits;
    const tooMany = (what: string, max: number, knob: keyof LayerLimits) =>
      new PipelineError(
        "E_LAYER_TOO_LARGE",
        `${layer}: ${what} more than ${max} entries (the limit); if that is expected, raise it with ${howToSet(knob)}`,
      );
    return {
      entry: () => {
        if (++entries > maxLayerEntries) throw tooMany("holds", maxLayerEntries, "maxLayerEntries");
        if (++this.entries > maxImageEntries)
          throw tooMany("the image's layers hold", maxImageEntries, "maxImageEntries");
      },
      add: (bytes, compressedSoFar) => {
        out += bytes;
        this.used += bytes;
        this.compressed = below + (compressedSoFar ?? out);
        if (this.used > maxUnpackedSize) {
          throw new PipelineError(
            "E_LAYER_TOO_LARGE",
            `${layer}: the image's layers expand to more than ${formatSize(maxUnpackedSize)} (the limit on an image's unpacked size); ` +
              `if that is expected, raise it with ${howToSet("maxUnpackedSize")}`,
          );
        }
        if (compressedSoFar !== undefined && out > RATIO_FLOOR && out > maxLayerRatio * Math.max(compressedSoFar, 1)) {
          throw new PipelineError(
            "E_LAYER_TOO_LARGE",
            `${layer}: expands more than ${maxLayerRatio} times its compressed size (${formatSize(out)} from ${formatSize(compressedSoFar)}), ` +
              `which real layers do not: a decompression bomb? If the layer is trusted (e.g. a large file of zeros), raise the limit with ${howToSet("maxLayerRatio")}`,
          );
        }
        if (this.used > IMAGE_RATIO_FLOOR && this.used > maxLayerRatio * Math.max(this.compressed, 1)) {
          throw new PipelineError(
            "E_LAYER_TOO_LARGE",
            `${layer}: the image's layers expand more than ${maxLayerRatio} times their compressed size (${formatSize(this.used)} from ${formatSize(this.compressed)} so far), ` +
              `which real images do not: a decompression bomb split across layers? If the image is trusted, raise the limit with ${howToSet("maxLayerRatio")}`,
          );
        }
        if (out >= nextDiskCheck) {
          nextDiskCheck = out + DISK_CHECK_INTERVAL;
          this.checkDisk(layer);
        }
      },
    };
  }
}
