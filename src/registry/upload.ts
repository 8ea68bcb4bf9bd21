/**
 * Blob uploads (distribution spec "push"): POST a session, then either one monolithic `PUT <location>?digest=`
 * (small blobs) or `PATCH <location>` with a Content-Range (each answer's Location is the next URL) closed by an empty
 * PUT; and cross-repository mounts (`POST ?mount=&from=`: 201 mounted, 202 a session to upload into). A large blob goes
 * up in one streamed PATCH, as crane and skopeo send it, unless a chunk size is asked for or the registry refuses a body
 * that large (413: then in 16 MiB chunks); a PATCH that ended short is continued from the offset the registry reports.
 * Bodies are read from the blob's file into two reused 1 MiB buffers (body-chunks.ts), or streamed from Blob.open()
 * (reopened for every retry); a session
 * that ends in DIGEST_INVALID or a lost or invalid upload is restarted (see uploadBlob).
 */
import { pipeline, Readable } from "node:stream";
import { PipelineError } from "../errors";
import type { Blob } from "../oci/model";
import type { Digest } from "../oci/digest";
import { Verifier, type VerifyOptions, VerifyStream } from "../oci/verifying-stream";
import { type ChunkSource, FileChunks } from "./body-chunks";
import type { RegistryClient } from "./client";
import { digestMismatchError, type ErrorContext, RegistryError } from "./errors";
import type { HttpResponse } from "./http-attempt";

export const DEFAULT_CHUNK_THRESHOLD = 16 * 1024 * 1024;
/** Bytes per PATCH once a registry refused the whole blob in one (HTTP 413). */
export const FALLBACK_CHUNK_SIZE = 16 * 1024 * 1024;
export { READ_CHUNK } from "./body-chunks";

export interface UploadOptions {
  /** Blobs of at least this many bytes go up by PATCH, smaller ones in one PUT (default 16 MiB). */
  chunkThreshold?: number;
  /** Bytes per PATCH (default: the whole blob in one PATCH, 16 MiB chunks after a 413). */
  chunkSize?: number;
  /** A session already opened (e.g. by a mount that fell back to 202). */
  session?: URL;
  /** Bytes sent so far (goes back down when a request is retried). */
  onProgress?: (bytes: number) => void;
}

export type MountResult = { mounted: true } | { mounted: false; session: URL };

const RESTART_CODES = ["DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "SIZE_INVALID", "RANGE_INVALID"];
const OCTET = "application/octet-stream";

function location(res: HttpResponse, operation: string): URL {
  const loc = res.header("location");
  if (!loc)
    throw new PipelineError(
      "E_REGISTRY",
      `${operation}: the registry answered ${res.status} without a Location header`,
    );
  return new URL(loc, res.url);
}

function withDigest(session: URL, digest: Digest): URL {
  const u = new URL(session);
  u.searchParams.set("digest", digest);
  return u;
}

/** POST /v2/<repo>/blobs/uploads/ → the session URL. */
export async function startUpload(client: RegistryClient, repository: string, digest: Digest): Promise<URL> {
  const operation = `start upload of blob ${digest} to ${client.registry}/${repository}`;
  const res = await client.send({ method: "POST", path: `/v2/${repository}/blobs/uploads/`, repository, operation });
  if (res.status !== 202) throw await client.fail(res, repository, operation);
  await res.discard();
  return location(res, operation);
}

/** Asks the registry to link `digest` from repository `from` into `repository`. */
export async function mountBlob(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  from: string,
): Promise<MountResult> {
  const operation = `mount blob ${digest} from ${from} into ${client.registry}/${repository}`;
  const q = new URLSearchParams({ mount: digest, from });
  const res = await client.send({
    method: "POST",
    path: `/v2/${repository}/blobs/uploads/?${q}`,
    repository,
    extraScopes: [`repository:${from}:pull`],
    operation,
  });
  await res.discard();
  if (res.status === 201) {
    const claimed = res.header("docker-content-digest");
    if (claimed && claimed !== digest)
      throw digestMismatchError(client.context(repository, operation), digest, claimed, "the mounted blob");
    return { mounted: true };
  }
  if (res.status === 202) return { mounted: false, session: location(res, operation) };
  throw await client.fail(res, repository, operation);
}

/**
 * Uploads a blob (monolithic below the threshold, chunked above). A session the registry lost or refuses
 * (a request whose answer never arrived was applied, so its retry no longer matches the session's state)
 * is restarted: once, or as many times as the transport retries if that is more. Before each restart a HEAD
 * asks whether an earlier attempt already completed the upload.
 */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  blob: Blob,
  opts: UploadOptions = {},
): Promise<void> {
  const threshold = opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
  const rounds = Math.max(2, client.transport.retry.retries + 1);
  let chunkSize = opts.chunkSize;
  let given = opts.session;
  for (let round = 0; ; round++) {
    const session = given ?? (await startUpload(client, repository, blob.digest));
    given = undefined;
    try {
      if (blob.size >= threshold && blob.size > 0)
        await uploadChunked(client, repository, blob, session, { ...opts, chunkSize });
      else await uploadMonolithic(client, repository, blob, session, opts);
      return;
    } catch (e) {
      if (e instanceof RegistryError && e.status === 413 && chunkSize === undefined && blob.size >= threshold) {
        // The registry (or a proxy before it) takes no body this large: a new session, in chunks (not a restart round).
        chunkSize = FALLBACK_CHUNK_SIZE;
        round--;
        continue;
      }
      // 404 on a session URL is a lost session whatever its body says (it may not have arrived whole).
      const restart =
        e instanceof RegistryError && (e.hasCode(...RESTART_CODES) || e.status === 416 || e.status === 404);
      if (!restart) throw e;
      if (await client.blobExists(repository, blob.digest)) return;
      if (round + 1 >= rounds) throw e;
    }
  }
}

async function finish(
  client: RegistryClient,
  repository: string,
  blob: Blob,
  res: HttpResponse,
  operation: string,
): Promise<void> {
  if (res.status !== 201 && res.status !== 204 && res.status !== 200)
    throw await client.fail(res, repository, operation);
  await res.discard();
  const claimed = res.header("docker-content-digest");
  if (claimed && claimed !== blob.digest)
    throw digestMismatchError(client.context(repository, operation), blob.digest, claimed, "the uploaded blob");
}

async function uploadMonolithic(
  client: RegistryClient,
  repository: string,
  blob: Blob,
  session: URL,
  opts: UploadOptions,
): Promise<void> {
  const operation = `upload blob ${blob.digest} to ${client.registry}/${repository}`;
  const ctx = client.context(repository, operation);
  const res = await client.send({
    method: "PUT",
    url: withDigest(session, blob.digest),
    repository,
    headers: { "Content-Type": OCTET },
    body: () =>
      blob.path
        ? checkedFile(blob, blob.path, ctx, opts.onProgress)
        : pipeline(blob.open(), localCheck(blob, ctx, opts.onProgress), () => {}),
    contentLength: blob.size,
    operation,
  });
  await finish(client, repository, blob, res, operation);
}

/**
 * A file blob's bytes, counted, hashed and reported on their way out (body-chunks.ts: no buffer per read). The chunk
 * that completes the size is checked before it is handed out, so a registry never receives the full Content-Length
 * of wrong content.
 */
function checkedFile(blob: Blob, path: string, ctx: ErrorContext, onProgress?: (bytes: number) => void): FileChunks {
  const check = new Verifier(localCheckOptions(blob, ctx));
  const each = (chunk: Buffer) => {
    check.update(chunk);
    if (check.bytes === blob.size) check.check();
    onProgress?.(check.bytes);
  };
  return new FileChunks(path, 0, blob.size, `blob ${blob.digest} (${path})`, { each, fileSize: blob.size });
}

async function uploadChunked(
  client: RegistryClient,
  repository: string,
  blob: Blob,
  session: URL,
  opts: UploadOptions,
): Promise<void> {
  const operation = `upload blob ${blob.digest} to ${client.registry}/${repository} by PATCH`;
  const chunkSize = Math.max(1, opts.chunkSize ?? Number.POSITIVE_INFINITY);
  const cursor = new BlobCursor(blob);
  let url = session;
  let offset = 0;
  let resyncs = 0;
  try {
    while (offset < blob.size) {
      const start = offset;
      const end = Math.min(start + chunkSize, blob.size);
      const res = await client.send({
        method: "PATCH",
        url,
        repository,
        headers: { "Content-Type": OCTET, "Content-Range": `${start}-${end - 1}` },
        body: () => cursor.range(start, end, (n) => opts.onProgress?.(start + n)),
        contentLength: end - start,
        operation,
      });
      if (res.status === 416 && resyncs++ < 3) {
        // The registry has a different offset (a retried chunk half-arrived): ask where it is.
        await res.discard();
        ({ url, offset } = await uploadStatus(client, repository, location(res, operation), operation));
        continue;
      }

      if (res.status !== 202) throw await client.fail(res, repository, operation);
      await res.discard();
      url = location(res, operation);
      const range = parseRange(res.header("range"));
      offset = range !== undefined ? range + 1 : end;
    }
    const local = cursor.digest();
    if (local && local !== blob.digest)
      throw digestMismatchError(client.context(repository, operation), blob.digest, local, "the local content");
    const res = await client.send({ method: "PUT", url: withDigest(url, blob.digest), repository, operation });
    await finish(client, repository, blob, res, operation);
  } finally {
    cursor.close();
  }
}

/** GET <location>: where an upload stands (`Range: 0-<last byte>`). */
async function uploadStatus(
  client: RegistryClient,
  repository: string,
  url: URL,
  operation: string,
): Promise<{ url: URL; offset: number }> {
  const res = await client.send({ method: "GET", url, repository, operation: `${operation} (status)` });
  if (res.status !== 204 && res.status !== 200) throw await client.fail(res, repository, operation);
  await res.discard();
  const range = parseRange(res.header("range"));
  return { url: res.header("location") ? location(res, operation) : url, offset: range !== undefined ? range + 1 : 0 };
}

/** The last byte of `Range: 0-1023` / `bytes=0-1023`; undefined when absent. */
export function parseRange(value: string | undefined): number | undefined {
  const m = /(\d+)-(\d+)/.exec(value ?? "");
  return m ? Number(m[2]) : undefined;
}

/**
 * Counts, hashes and reports a blob's bytes on their way out. The last chunk is held back until the
 * digest checks out, so a registry never receives the full Content-Length of wrong content.
 */
function localCheck(blob: Blob, ctx: ErrorContext, onProgress?: (bytes: number) => void): VerifyStream {
  return new VerifyStream({ ...localCheckOptions(blob, ctx), holdLast: true, onBytes: onProgress });
}

function localCheckOptions(blob: Blob, ctx: ErrorContext): VerifyOptions {
  return {
    expect: { digest: blob.digest, size: blob.size },
    fail: (p) =>
      p.kind === "too-long"
        ? new PipelineError(
            "E_DIGEST_MISMATCH",
            `${ctx.operation}: the content is longer than the ${blob.size} bytes its descriptor says`,
          )
        : digestMismatchError(ctx, blob.digest, `${p.actual} (${p.bytes} bytes)`, "the local content"),
  };
}

/**
 * Reads a blob front to back across chunk requests: a file blob by position (body-chunks.ts, each range on its own),
 * another from one open stream, which a retried chunk (asked for an offset the stream has passed) reopens. Hashes
 * the bytes while they come in order, so the local content is checked before the upload is closed.
 */
export class BlobCursor {
  private iter?: AsyncIterator<Buffer>;
  private pos = 0;
  private pending?: Buffer;
  /** Hashes the bytes read in order from the start. */
  private readonly inOrder = new Verifier();

  constructor(private readonly blob: Blob) {}

  /** Bytes `[start, end)`; a file blob's chunks are valid until the next is asked for (a ChunkSource). */
  range(start: number, end: number, onProgress?: (bytes: number) => void): Readable | ChunkSource {
    const path = this.blob.path;
    if (path === undefined) return Readable.from(this.read(start, end, onProgress), { objectMode: false });
    const each = (chunk: Buffer, offset: number) => {
      this.hashInOrder(chunk, offset);
      onProgress?.(offset + chunk.length - start);
    };
    return new FileChunks(path, start, end, `blob ${this.blob.digest} (${path})`, { each, fileSize: this.blob.size });
  }

  /** Hashes the part of `chunk` (at `offset`) that continues the bytes hashed so far; a retried part is not hashed twice. */
  private hashInOrder(chunk: Buffer, offset: number): void {
    const skip = this.inOrder.bytes - offset;
    if (skip >= 0 && skip < chunk.length) this.inOrder.update(skip > 0 ? chunk.subarray(skip) : chunk);
  }

  /** sha256 of the whole blob if it was read once in order, else undefined. */
  digest(): Digest | undefined {
    return this.inOrder.bytes === this.blob.size ? this.inOrder.digest() : undefined;
  }

  close(): void {
    void this.iter?.return?.();
    this.iter = undefined;
  }

  private reopen(): void {
    this.close();
    this.pending = undefined;
    this.iter = this.blob.open()[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.pos = 0; // bytes before `start` are skipped in read()
  }

  private async *read(start: number, end: number, onProgress?: (bytes: number) => void): AsyncGenerator<Buffer> {
    if (!this.iter || this.pos !== start) this.reopen();
    let sent = 0;
    while (this.pos < end) {
      let buf = this.pending;
      this.pending = undefined;
      if (!buf) {
        const r = await this.iter!.next();
        if (r.done)
          throw new PipelineError(
            "E_DIGEST_MISMATCH",
            `blob ${this.blob.digest}: content ended at byte ${this.pos}, expected ${this.blob.size}`,
          );
        buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      }
      if (this.pos < start) {
        const drop = Math.min(buf.length, start - this.pos);
        this.pos += drop;
        if (drop < buf.length) this.pending = buf.subarray(drop);
        continue;
      }
      const take = Math.min(buf.length, end - this.pos);
      const out = buf.subarray(0, take);
      if (take < buf.length) this.pending = buf.subarray(take);
      this.hashInOrder(out, this.pos);
      this.pos += take;
      sent += take;
      onProgress?.(sent);
      yield out;
    }
  }
}
