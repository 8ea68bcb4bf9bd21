/** Handlers for `/v2/<name>/blobs/...`: fetch, delete, and the upload API (POST, PATCH, PUT, GET, DELETE). */
import { promises as fsp } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../oci/digest";
import type { Ctx } from "./context";
import { isValidName, validateDigest } from "./names";
import { ErrorAnswer } from "./error-answer";
import { discardBody, hasBody } from "./request-body";
import { sendEmpty } from "./responses";
import { parseContentRange, uploadRange } from "./upload-range";
import type { Chunk, UploadSession } from "./uploads";

function blobUnknown(name: string, digest: Digest): ErrorAnswer {
  return new ErrorAnswer(404, "BLOB_UNKNOWN", `blob ${digest} is unknown to repository ${name}`, { digest });
}

function sessionHeaders(s: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${s.repo}/blobs/uploads/${s.id}`,
    Range: uploadRange(s.size),
    "Docker-Upload-UUID": s.id,
  };
}

function blobCreated(name: string, digest: Digest): Record<string, string> {
  return { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest };
}

/** Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; undefined for none or for what we ignore. */
function parseRangeHeader(
  value: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!value) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined; // multi-range or malformed: serve the whole blob
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(size - n, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** GET/HEAD /v2/<name>/blobs/<digest>: streams from disk; honours a single byte range. */
export async function getBlob(ctx: Ctx, name: string, ref: string): Promise<void> {
  const { req, res, storage } = ctx;
  const digest = validateDigest(ref);
  if ((await storage.repoBlobSize(name, digest)) === undefined) throw blobUnknown(name, digest);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(storage.blobPath(digest), "r");
  } catch {
    throw blobUnknown(name, digest);
  }
  let handedOver = false;
  try {
    const size = (await fh.stat()).size;
    const range = req.method === "GET" ? parseRangeHeader(req.headers.range, size) : undefined;
    res.setHeader("Docker-Content-Digest", digest);
    res.setHeader("ETag", `"${digest}"`);
    res.setHeader("Accept-Ranges", "bytes");
    res.setHeader("Cache-Control", "max-age=31536000");
    if (range === "unsatisfiable") {
      throw new ErrorAnswer(
        416,
        "BLOB_UNKNOWN",
        `range ${req.headers.range} is outside blob ${digest} of ${size} bytes`,
        { size },
        {
          "Content-Range": `bytes */${size}`,
        },
      );
    }
    res.setHeader("Content-Type", "application/octet-stream");
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    res.statusCode = range ? 206 : 200;
    if (range) res.setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
    res.setHeader("Content-Length", end - start + 1);
    if (req.method === "HEAD" || size === 0) {
      res.end();
      return;
    }
    handedOver = true;
    await pipeline(fh.createReadStream({ start, end }), res);
  } finally {
    if (!handedOver) await fh.close();
  }
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from the repository (the bytes stay for others). */
export async function deleteBlob(ctx: Ctx, name: string, ref: string): Promise<void> {
  const digest = validateDigest(ref);
  if (!(await ctx.storage.unlinkBlob(name, digest))) throw blobUnknown(name, digest);
  sendEmpty(ctx.res, 202, { "Docker-Content-Digest": digest });
}

/** The request body as an upload chunk, with the Content-Range and Content-Length it declares. */
function chunkOf(ctx: Ctx): Chunk {
  const { req } = ctx;
  const header = req.headers["content-range"];
  let range: Chunk["range"];
  if (header !== undefined) {
    range = parseContentRange(header);
    if (!range) {
      throw new ErrorAnswer(
        416,
        "BLOB_UPLOAD_INVALID",
        `Content-Range ${JSON.stringify(header)} is not "<start>-<end>"`,
      );
    }
  }
  const cl = req.headers["content-length"];
  const contentLength = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : undefined;
  return { body: req, range, contentLength, onBytes: (n) => (ctx.bytesIn += n) };
}

/**
 * POST /v2/<name>/blobs/uploads/: `?mount=<digest>&from=<repo>` links a blob the other repository has
 * (201) or else opens a session (202); `?digest=<digest>` is a monolithic upload (201); otherwise 202 with
 * a new session.
 */
export async function startUpload(ctx: Ctx, name: string): Promise<void> {
  const { storage, uploads, url, res } = ctx;
  const mount = url.searchParams.get("mount");
  if (mount !== null) {
    const digest = validateDigest(mount, "mount digest");
    const from = url.searchParams.get("from");
    const here = (await storage.repoBlobSize(name, digest)) !== undefined;
    const there =
      !here && from !== null && isValidName(from) && (await storage.repoBlobSize(from, digest)) !== undefined;
    if (here || there) {
      if (there) await storage.linkBlob(name, digest);
      discardBody(ctx.req);
      sendEmpty(res, 201, blobCreated(name, digest));
      return;
    }
  }
  const digestParam = url.searchParams.get("digest");
  if (digestParam !== null) {
    const digest = validateDigest(digestParam);
    const s = await uploads.create(name, ctx.client);
    try {
      await uploads.finish(name, s.id, digest, chunkOf(ctx));
    } catch (e) {
      await uploads.discard(s.id);
      throw e;
    }
    sendEmpty(res, 201, blobCreated(name, digest));
    return;
  }
  discardBody(ctx.req);
  const s = await uploads.create(name, ctx.client);
  sendEmpty(res, 202, sessionHeaders(s));
}

/** PATCH <location>: appends a chunk (Content-Range optional; checked when present). */
export async function patchUpload(ctx: Ctx, name: string, id: string): Promise<void> {
  const s = await ctx.uploads.append(name, id, chunkOf(ctx));
  sendEmpty(ctx.res, 202, sessionHeaders(s));
}

/** PUT <location>?digest=: optional final chunk, then the whole upload is verified and stored. */
export async function putUpload(ctx: Ctx, name: string, id: string): Promise<void> {
  const digest = validateDigest(ctx.url.searchParams.get("digest"));
  const chunk = hasBody(ctx.req) ? chunkOf(ctx) : undefined;
  if (!chunk) discardBody(ctx.req);
  await ctx.uploads.finish(name, id, digest, chunk);
  sendEmpty(ctx.res, 201, blobCreated(name, digest));
}

/** GET <location>: where the upload stands (204 + Range). */
export async function uploadStatus(ctx: Ctx, name: string, id: string): Promise<void> {
  const s = await ctx.uploads.get(name, id);
  sendEmpty(ctx.res, 204, sessionHeaders(s));
}

/** DELETE <location>: cancels the upload. */
export async function cancelUpload(ctx: Ctx, name: string, id: string): Promise<void> {
  discardBody(ctx.req);
  await ctx.uploads.cancel(name, id);
  sendEmpty(ctx.res, 204);
}
