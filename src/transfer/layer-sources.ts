/**
 * Where a layer the layout lacks can be had, chosen in one place: each kind of source a layout records
 * (src/layout/remote.ts) is one row of RECORDED_SOURCES, and each kind of build cache the push may be given
 * (`--@rules_pipeline//bazel:remote_cache`, the launch config's `remoteCache`) one row of REMOTE_CACHES, by URL
 * scheme. A new kind is one file implementing LayerSource (layer-source.ts) and one row here; RemoteLayers
 * (remote-blobs.ts) asks the rows and never names a kind. (The URL is also checked at analysis time, by
 * bazel/private/pipeline/launcher.bzl's remote_cache_url: a new scheme is accepted there too.)
 */
import { PipelineError } from "../errors";
import { BAZEL_CACHE_SOURCE } from "../layout/remote";
import { parseReference, type Reference } from "../oci/reference";
import type { RegistryClient } from "../registry/client";
import type { Logger } from "../registry/http";
import type { TransferRate } from "../registry/transfer-rate";
import { BazelCache } from "./bazel-cache";
import type { LayerSource } from "./layer-source";
import { RegistrySource } from "./registry-source";

/** What a row needs to make its source: the push's build cache, if given, and one registry client per registry. */
export interface SourceContext {
  buildCache?: LayerSource;
  client(registry: string): RegistryClient;
}

export interface RecordedSourceKind {
  /** Whether a source string recorded on a layer is this kind's. */
  claims(recorded: string): boolean;
  /** Its source, or why it cannot be asked (said in the error that lists every place asked). */
  source(recorded: string, ctx: SourceContext): LayerSource | { unavailable: string };
  /** Whether the string names a base image (the error names the bases, E_BASE_LAYER_MISSING; else E_BAZEL_CACHE). */
  base: boolean;
}

/** The kinds of recorded source, asked in order; the last claims every string (a registry reference, or not one). */
export const RECORDED_SOURCES: readonly RecordedSourceKind[] = [
  {
    claims: (recorded) => recorded === BAZEL_CACHE_SOURCE,
    source: (_recorded, ctx) =>
      ctx.buildCache ?? { unavailable: "the Bazel remote cache (not given: --@rules_pipeline//bazel:remote_cache)" },
    base: false,
  },
  {
    claims: () => true,
    source: (recorded, ctx) => {
      const ref = recordedReference(recorded);
      return ref
        ? new RegistrySource(ctx.client(ref.registry), ref.repository)
        : { unavailable: `${recorded} (not a reference)` };
    },
    base: true,
  },
];

/** The image reference a recorded source string is (a base's `registry/repository@sha256:…`), or undefined. */
export function recordedReference(recorded: string): Reference | undefined {
  try {
    return parseReference(recorded, "remote blob source");
  } catch {
    return undefined;
  }
}

/** The kind a recorded source string is. */
export function recordedKind(recorded: string): RecordedSourceKind {
  const kind = RECORDED_SOURCES.find((k) => k.claims(recorded));
  if (!kind) throw new Error(`recordedKind: no kind claims ${JSON.stringify(recorded)}`);
  return kind;
}

/** The kinds of build cache a push reads layers from, by URL scheme. */
export const REMOTE_CACHES: Readonly<Record<string, (url: URL, log?: Logger, rate?: TransferRate) => LayerSource>> = {
  "http:": (url, log, rate) => new BazelCache(url, log, rate),
  "https:": (url, log, rate) => new BazelCache(url, log, rate),
};

/** The schemes REMOTE_CACHES reads, as an error lists them ("http:// or https://"). */
const schemes = () =>
  Object.keys(REMOTE_CACHES)
    .map((s) => `${s}//`)
    .join(" or ");

/**
 * The cache URL, checked: a scheme REMOTE_CACHES reads, no user or password, no query or fragment; a path prefix is
 * kept (with a trailing slash). `what` names the flag in errors; a password is never shown.
 */
export function remoteCacheUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PipelineError("E_BAZEL_CACHE", `${what}: not a URL: ${JSON.stringify(raw)}`);
  }
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (!Object.hasOwn(REMOTE_CACHES, url.protocol))
    throw new PipelineError(
      "E_BAZEL_CACHE",
      `${what}: the push reads a cache at ${schemes()} only, got ${JSON.stringify(shown)}`,
    );
  if (url.username || url.password)
    throw new PipelineError(
      "E_BAZEL_CACHE",
      `${what}: the URL must not carry credentials (${shown}: user or password given)`,
    );
  if (url.search || url.hash)
    throw new PipelineError(
      "E_BAZEL_CACHE",
      `${what}: the URL must have no query or fragment, got ${JSON.stringify(shown)}`,
    );
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

/** The build cache at `raw` (checked by remoteCacheUrl), of the kind its scheme names. */
export function remoteCacheAt(raw: string, what: string, log?: Logger, rate?: TransferRate): LayerSource {
  const url = remoteCacheUrl(raw, what);
  return REMOTE_CACHES[url.protocol](url, log, rate);
}
