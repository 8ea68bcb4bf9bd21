/**
 * A client for one OCI distribution registry: picks the scheme, authenticates requests (see
 * authenticator.ts) and implements the read side and manifest writes of the API. Blob uploads and
 * mounts are in upload.ts; whole-image push and pull in push.ts and pull.ts.
 */
import type { Readable } from "node:stream";
import { PipelineError } from "../errors";
import { type Digest, isDigest, sha256 } from "../oci/digest";
import { type VerifyProblem, Verifier, VerifyStream } from "../oci/verifying-stream";
import { isLoopbackRegistry, validateRegistry } from "../oci/reference";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from "../oci/types";
import type { Keychain } from "../registry-auth/keychain";
import { lazyDefaultKeychain } from "../registry-auth/lazy";
import { Authenticator, repositoryScope } from "./authenticator";
import { digestMismatchError, type ErrorContext, responseError, type RegistryError } from "./errors";
import { BlobFetch } from "./blob-fetch";
import { HttpTransport, type Logger, type RetryOptions, sameAuthority } from "./http";
import type { BodySource, Connector, HttpResponse } from "./http-attempt";
import { registryUrl } from "./registry-text";
import { type TransferRate, transferRateOf } from "./transfer-rate";

export interface ClientOptions {
  /** Where credentials come from (default: docker config.json). */
  keychain?: Keychain;
  /**
   * The registry is explicitly insecure: accept invalid TLS certificates, fall back to plain HTTP, and
   * allow credentials over it. Loopback registries use plain HTTP without this.
   */
  insecure?: boolean;
  /** Force a scheme (default: http for loopback hosts, https otherwise). */
  scheme?: "http" | "https";
  retry?: RetryOptions;
  /** Debug log (one line per request); never receives credentials. */
  log?: Logger;
  /** "push" asks tokens for pull,push on every repository it touches (default "pull"). */
  access?: "pull" | "push";
  userAgent?: string;
  /**
   * The slowest a response may arrive: its headers' deadline, and the minimum rate of every body, a blob's or one read
   * whole (default: src/layer/limits.ts's, 1 KiB/s over 30 s, headers within 60 s).
   */
  transfer?: TransferRate;
}

/** Accept header for manifest requests: single-platform manifests and indexes, OCI and Docker. */
export const MANIFEST_ACCEPT = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(", ");

export interface SendOptions {
  method: string;
  /** A path under the registry (`/v2/...`) or an absolute URL (an upload Location). */
  path?: string;
  url?: URL;
  repository?: string;
  /** Additional token scopes (a mount's `repository:<from>:pull`). */
  extraScopes?: string[];
  headers?: Record<string, string>;
  body?: BodySource;
  contentLength?: number;
  operation: string;
  /** The connections to send it over (http.ts Connector; default node:http's agent). */
  connection?: Connector;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function contentType(res: HttpResponse): string {
  return (res.header("content-type") ?? "").split(";")[0].trim();
}

export class RegistryClient {
  readonly registry: string;
  readonly transport: HttpTransport;
  readonly auth: Authenticator;
  readonly insecure: boolean;
  private readonly access: "pull" | "push";
  private base?: Promise<URL>;

  constructor(
    registry: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.registry = validateRegistry(registry);
    this.insecure = opts.insecure ?? false;
    this.access = opts.access ?? "pull";
    this.transport = new HttpTransport(opts.retry, opts.log, opts.userAgent, opts.transfer ?? transferRateOf());
    this.auth = new Authenticator(registry, {
      keychain: opts.keychain ?? lazyDefaultKeychain(),
      insecure: this.insecure,
      transport: this.transport,
      log: opts.log,
    });
  }

  /** `http://host/` or `https://host/`, decided once (an insecure registry is probed over https first). */
  baseUrl(): Promise<URL> {
    this.base ??= this.pickScheme();
    return this.base;
  }

  private async pickScheme(): Promise<URL> {
    if (this.opts.scheme) return new URL(`${this.opts.scheme}://${this.registry}/`);
    if (isLoopbackRegistry(this.registry)) return new URL(`http://${this.registry}/`);
    const https = new URL(`https://${this.registry}/`);
    if (!this.insecure) return https;
    try {
      const res = await this.transport.request(
        { method: "GET", url: new URL("/v2/", https), retry: false, insecureTls: true },
        { registry: this.registry, operation: "probe https" },
      );
      await res.discard();
      return https;
    } catch {
      this.opts.log?.(`${this.registry}: https failed; insecure registry, using http`);
      return new URL(`http://${this.registry}/`);
    }
  }

  scopesFor(repository: string | undefined, extra: readonly string[] = []): string[] {
    if (!repository) return [...extra];
    return [repositoryScope(repository, this.access === "push" ? "pull,push" : "pull"), ...extra];
  }

  /**
   * Sends one request with authentication: up front if a previous challenge taught us how, otherwise
   * anonymously and again after answering a 401. Authorization only ever goes to the registry's host.
   * Returns any response but a second 401 (which throws E_UNAUTHORIZED).
   */
  async send(o: SendOptions): Promise<HttpResponse> {
    const base = await this.baseUrl();
    const url = o.url ?? new URL(o.path!, base);
    const ctx = this.context(o.repository, o.operation);
    const scopes = this.scopesFor(o.repository, o.extraScopes);
    const ours = sameAuthority(base, url);
    const attempt = (authorization: string | undefined) =>
      this.transport.request(
        {
          method: o.method,
          url,
          headers: { ...(o.headers ?? {}), ...(authorization ? { Authorization: authorization } : {}) },
          body: o.body,
          contentLength: o.contentLength,
          insecureTls: this.insecure,
          connection: o.connection,
        },
        { registry: this.registry, operation: o.operation },
      );
    const first = ours ? await this.auth.authorization(scopes, url, ctx) : undefined;
    const res = await attempt(first);
    if (res.status !== 401 || !ours) return res;
    const next = await this.auth.challenge(res, scopes, first, ctx);
    await res.discard();
    const again = await attempt(next);
    if (again.status === 401) throw await this.fail(again, o.repository, o.operation);
    return again;
  }

  context(repository: string | undefined, operation: string): ErrorContext {
    return { registry: this.registry, repository, operation };
  }

  /** The error for an unexpected response (names the credential source for 401/403). */
  async fail(res: HttpResponse, repository: string | undefined, operation: string): Promise<RegistryError> {
    const ctx = this.context(repository, operation);
    if (res.status === 401 || res.status === 403) ctx.credentialSource = await this.auth.source(ctx.repository);
    return responseError(res, ctx);
  }

  /** GET /v2/: the registry answers and our credentials (if it wants any) work. */
  async ping(): Promise<void> {
    const res = await this.send({ method: "GET", path: "/v2/", operation: `ping ${this.registry}` });
    if (res.status !== 200) throw await this.fail(res, undefined, `ping ${this.registry}`);
    await res.discard();
  }

  /** HEAD a blob: its size when the repository has it, undefined when not. */
  async blobExists(repository: string, digest: Digest): Promise<{ size: number } | undefined> {
    const operation = `check blob ${digest} in ${this.registry}/${repository}`;
    const res = await this.send({ method: "HEAD", path: `/v2/${repository}/blobs/${digest}`, repository, operation });
    await res.discard();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.fail(res, repository, operation);
    return { size: Number(res.header("content-length") ?? -1) };
  }

  /**
   * Streams a blob, checking size and digest as it flows: the stream errors with E_DIGEST_MISMATCH at
   * the end (before 'end') if the bytes are wrong. Redirects (to object storage) are followed without
   * credentials. `onBytes` hears the running byte count as the consumer reads (for progress).
   */
  openBlob(repository: string, digest: Digest, size?: number, onBytes?: (bytes: number) => void): Readable {
    const operation = `get blob ${digest} from ${this.registry}/${repository}`;
    const ctx = this.context(repository, operation);
    const verify = new VerifyStream({ expect: { digest, size }, onBytes, fail: (p) => blobProblem(ctx, p) });
    (async () => {
      const res = await this.send({ method: "GET", path: `/v2/${repository}/blobs/${digest}`, repository, operation });
      if (res.status !== 200) throw await this.fail(res, repository, operation);
      this.transport.feed(verify, res, `${operation}: registry ${this.registry}`);
    })().catch((e) => verify.destroy(e));
    return verify;
  }

  /**
   * Starts downloading a blob for a synchronous consumer (BlobFetch.into: a file being written), checking size and
   * digest as the bytes come (into() rejects with E_DIGEST_MISMATCH when they are wrong). The same requests as openBlob;
   * the body is read without node:http's copies (blob-fetch.ts). `onBytes` hears the running count handed on.
   */
  fetchBlob(repository: string, digest: Digest, size: number, onBytes?: (bytes: number) => void): BlobFetch {
    const operation = `get blob ${digest} from ${this.registry}/${repository}`;
    const ctx = this.context(repository, operation);
    return new BlobFetch({
      size,
      verifier: new Verifier({ expect: { digest, size }, fail: (p) => blobProblem(ctx, p) }),
      request: async (connection) => {
        const res = await this.send({
          method: "GET",
          path: `/v2/${repository}/blobs/${digest}`,
          repository,
          operation,
          connection,
        });
        if (res.status !== 200) throw await this.fail(res, repository, operation);
        return res;
      },
      rate: this.transport.rate,
      operation,
      registry: this.registry,
      onBytes,
    });
  }

  /**
   * A whole (small) blob in memory, read by its descriptor: image configs, bundles, signature payloads. The one way a
   * descriptor-addressed blob is buffered: a declared size over `limit` is refused before any request, and the
   * registry's bytes must be exactly the declared size and digest (src/oci/verifying-stream.ts: reading stops at the size, and
   * E_DIGEST_MISMATCH names the declared and the received size), so an endless body costs the declared size at most.
   */
  async getBlob(repository: string, desc: { digest: Digest; size: number }, limit = 64 * 1024 * 1024): Promise<Buffer> {
    const { digest, size } = desc;
    // The size itself was checked where the descriptor came in (src/oci/descriptor.ts).
    if (size > limit) {
      throw new PipelineError(
        "E_REGISTRY",
        `blob ${digest} in ${this.registry}/${repository}: its descriptor declares ${size} bytes, more than the ${limit} bytes read whole`,
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.openBlob(repository, digest, size)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** GET a manifest or index by tag or digest; verifies the digest (always when asked by digest). */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const operation = `get manifest ${reference} from ${this.registry}/${repository}`;
    const res = await this.send({
      method: "GET",
      path: `/v2/${repository}/manifests/${reference}`,
      repository,
      headers: { Accept: MANIFEST_ACCEPT },
      operation,
    });
    if (res.status !== 200) throw await this.fail(res, repository, operation);
    const bytes = await res.buffer(MAX_MANIFEST_BYTES);
    const digest = sha256(bytes);
    const ctx = this.context(repository, operation);
    if (reference.startsWith("sha256:") && digest !== reference)
      throw digestMismatchError(ctx, reference, digest, "manifest");
    const claimed = res.header("docker-content-digest");
    if (claimed?.startsWith("sha256:") && claimed !== digest)
      throw digestMismatchError(ctx, claimed, digest, "manifest");
    let mediaType = contentType(res);
    if (![...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].includes(mediaType)) {
      try {
        mediaType = (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType ?? mediaType;
      } catch {
        /* not JSON: the caller's parse reports it */
      }
    }
    return { bytes, mediaType, digest };
  }

  /**
   * HEAD a manifest: media type, size and digest (its Docker-Content-Digest header when that is a sha256 digest;
   * undefined for none or another algorithm, which a caller needing one gets by GET and hashing), or undefined
   * when absent.
   */
  async headManifest(
    repository: string,
    reference: string,
  ): Promise<{ digest?: Digest; mediaType: string; size: number } | undefined> {
    const operation = `check manifest ${reference} in ${this.registry}/${repository}`;
    const res = await this.send({
      method: "HEAD",
      path: `/v2/${repository}/manifests/${reference}`,
      repository,
      headers: { Accept: MANIFEST_ACCEPT },
      operation,
    });
    await res.discard();
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.fail(res, repository, operation);
    const digest = res.header("docker-content-digest");
    return {
      digest: digest && isDigest(digest) ? digest : undefined,
      mediaType: contentType(res),
      size: Number(res.header("content-length") ?? -1),
    };
  }

  /**
   * PUTs manifest bytes as-is under a tag or digest, and returns the digest once the registry confirmed
   * it: its Docker-Content-Digest must equal sha256(bytes) (or, when it sends none, a HEAD by digest must
   * find the manifest).
   */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const operation = `push manifest ${reference} to ${this.registry}/${repository}`;
    const digest = sha256(bytes);
    const res = await this.send({
      method: "PUT",
      path: `/v2/${repository}/manifests/${reference}`,
      repository,
      headers: { "Content-Type": mediaType },
      body: bytes,
      operation,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202)
      throw await this.fail(res, repository, operation);
    await res.discard();
    const claimed = res.header("docker-content-digest");
    if (claimed) {
      if (claimed !== digest)
        throw digestMismatchError(this.context(repository, operation), digest, claimed, "the stored manifest");
      return digest;
    }
    const check = await this.headManifest(repository, digest);
    if (!check || (check.digest && check.digest !== digest)) {
      throw new PipelineError(
        "E_REGISTRY",
        `${operation}: the registry accepted the manifest but does not serve ${digest}`,
      );
    }
    return digest;
  }

  /** All tags of a repository (follows `Link: <...>; rel="next"` pagination). */
  async listTags(repository: string): Promise<string[]> {
    const operation = `list tags of ${this.registry}/${repository}`;
    const tags: string[] = [];
    let url: URL | undefined = new URL(`/v2/${repository}/tags/list?n=1000`, await this.baseUrl());
    for (let page = 0; url && page < 10_000; page++) {
      const res: HttpResponse = await this.send({ method: "GET", url, repository, operation });
      if (res.status !== 200) throw await this.fail(res, repository, operation);
      const text = await res.text();
      let body: { tags?: unknown };
      try {
        body = JSON.parse(text) as { tags?: unknown };
      } catch {
        throw new PipelineError("E_REGISTRY", `${operation}: the registry answered something that is not JSON`);
      }
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === "string"));
      url = await this.nextPage(res, operation);
    }
    return tags;
  }

  /**
   * The next page of a paginated listing (tags, referrers) that answered `res`: its `Link: <URL>; rel="next"`
   * resolved against the URL that answered; undefined on the last page. A next page on another host (or over http
   * after https) is refused, E_REGISTRY: a listing comes from the registry asked, whose credentials stay with it.
   */
  async nextPage(res: HttpResponse, operation: string): Promise<URL | undefined> {
    const target = nextLink(res.header("link"));
    if (target === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(target, res.url);
    } catch {
      throw new PipelineError(
        "E_REGISTRY",
        `${operation}: registry ${this.registry} named a next page that is not a URL (Link: <${registryUrl(target).slice(0, 200)}>)`,
      );
    }
    const base = await this.baseUrl();
    if (!sameAuthority(base, url)) {
      throw new PipelineError(
        "E_REGISTRY",
        `${operation}: registry ${this.registry} named a next page on another host or scheme (${registryUrl(url)}); refusing to follow it: a listing must come from ${base.protocol}//${base.host}`,
      );
    }
    return url;
  }
}

/**
 * The target of the `rel="next"` link in a `Link` header (RFC 8288: comma-separated `<URI>; param=value`, `rel` a
 * space-separated list of relation types), or undefined when it has none.
 */
export function nextLink(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const m of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    for (const param of m[2].split(";").slice(1)) {
      const p = /^\s*rel\s*=\s*(?:"([^"]*)"|([^\s",]+))/i.exec(param);
      if (p && (p[1] ?? p[2]).toLowerCase().split(/\s+/).includes("next")) return m[1];
    }
  }
  return undefined;
}

/** A pulled blob's failed check as the client's error. */
function blobProblem(ctx: ErrorContext, p: VerifyProblem): PipelineError {
  switch (p.kind) {
    case "too-long":
      return new PipelineError(
        "E_DIGEST_MISMATCH",
        `${ctx.operation}: the descriptor declares ${p.expectedSize} bytes and the registry sent more (${p.bytes} bytes received when reading stopped)`,
      );
    case "digest":
      return digestMismatchError(ctx, p.expected, p.actual, "blob");
    case "size":
      return new PipelineError(
        "E_DIGEST_MISMATCH",
        `${ctx.operation}: the descriptor declares ${p.expectedSize} bytes and the registry sent ${p.bytes} bytes`,
      );
  }
}
