/**
 * Reads layers from a Bazel HTTP remote cache's content-addressed store: Bazel uploads every output file of an action
 * to `<cache>/cas/<sha256 of its bytes>` (bazel-remote's HTTP port, nginx WebDAV, any cache `--remote_cache=http…`
 * takes), and a layer's digest is that hash. A push given the cache's URL (`--@rules_pipeline//bazel:remote_cache`,
 * the launch config's `remoteCache`) streams the layers the registry lacks from there, checked against their digest
 * and size as they flow, never written to disk: `bazel run //pkg:NAME_push --remote_download_minimal` then downloads
 * manifests and configs, not layers (src/layout/remote.ts BAZEL_CACHE_SOURCE). gRPC caches are refused where the URL
 * is given (bazel/private/pipeline/launcher.bzl); the URL carries no credentials (Bazel's `--remote_header` and credential
 * helpers are not read: a cache that wants them answers 401, and the error says so).
 *
 * The cache is a server we do not run (or a proxy in front of it), held to the registry's rules (issue #72): its
 * answers' headers within the headers' deadline, a layer's body at the minimum transfer rate (--min-transfer-rate,
 * $PIPELINE_MIN_TRANSFER_RATE; E_REGISTRY_TOO_SLOW naming the cache and the layer), at most the layer's size, and
 * destroyed with the push's stream that reads it (HttpTransport.feed): a push whose upload fails or is retried leaves
 * no cache response open behind it.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import type { Digest } from "../oci/digest";
import type { BlobConsumer } from "../oci/model";
import { VerifyStream } from "../oci/verifying-stream";
import type { Descriptor } from "../oci/types";
import { HttpTransport, type Logger } from "../registry/http";
import { downloadProgress, type ProgressSink } from "../registry/progress";
import { type TransferRate, transferRateOf } from "../registry/transfer-rate";
import { feedFromStream, type LayerSource } from "./layer-source";

/** What a layer from the cache is called in progress lines. */
const LABEL = "layer from the Bazel cache";

/** The Bazel HTTP cache as a LayerSource (layer-sources.ts makes it for an http:// or https:// URL). */
export class BazelCache implements LayerSource {
  private readonly http: HttpTransport;

  /** `rate`: the push's (resolveLimits: --min-transfer-rate, $PIPELINE_MIN_TRANSFER_RATE), as a registry's. */
  constructor(
    readonly url: URL,
    log?: Logger,
    rate: TransferRate = transferRateOf(),
  ) {
    this.http = new HttpTransport({}, log, undefined, rate, "the Bazel remote cache");
  }

  /** Where `digest` is kept: `<cache>/cas/<hex>`. */
  blobUrl(digest: Digest): URL {
    return new URL(`cas/${digest.slice("sha256:".length)}`, this.url);
  }

  private context(digest: Digest, operation: string) {
    return {
      registry: `Bazel remote cache ${this.url.host}`,
      operation: `${operation} ${digest} from ${this.blobUrl(digest)}`,
    };
  }

  where(layer: Descriptor): string {
    return this.blobUrl(layer.digest).href;
  }

  /** Whether the cache holds the layer (HEAD): true on 200, false on 404, E_BAZEL_CACHE on any other answer. */
  async has(layer: Descriptor): Promise<boolean> {
    const digest = layer.digest;
    const res = await this.http.request({ method: "HEAD", url: this.blobUrl(digest) }, this.context(digest, "look up"));
    await res.discard();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.answered(res.status, digest);
  }

  stream(layer: Descriptor, progress: ProgressSink): Readable {
    const p = downloadProgress(progress, layer, LABEL);
    return p.ended(this.open(layer, p.onBytes));
  }

  feed(layer: Descriptor, consumer: BlobConsumer, progress: ProgressSink): Promise<void> {
    return feedFromStream(this.stream(layer, progress), consumer);
  }

  /** The blob's bytes, checked against `desc` as they flow; the stream fails (E_BAZEL_CACHE) on any answer but 200. */
  open(desc: Descriptor, onBytes?: (bytes: number) => void): Readable {
    const out = new VerifyStream({
      expect: { digest: desc.digest, size: desc.size },
      label: `layer ${desc.digest} read from ${this.blobUrl(desc.digest)}`,
      onBytes,
    });
    const ctx = this.context(desc.digest, "read");
    this.http.request({ method: "GET", url: this.blobUrl(desc.digest) }, ctx).then(
      async (res) => {
        if (res.status !== 200) {
          await res.discard();
          out.destroy(this.answered(res.status, desc.digest));
          return;
        }
        this.http.feed(out, res, `${ctx.operation}: ${ctx.registry}`);
      },
      (e) => out.destroy(e),
    );
    return out;
  }

  private answered(status: number, digest: Digest): PipelineError {
    const why =
      status === 404
        ? "it does not hold it (not uploaded: --remote_upload_local_results=false, or evicted; rebuild with the cache)"
        : status === 401 || status === 403
          ? "it refused the request (this push sends no credentials to the cache)"
          : "unexpected answer";
    return new PipelineError("E_BAZEL_CACHE", `${this.blobUrl(digest)}: HTTP ${status}: ${why}`);
  }
}
