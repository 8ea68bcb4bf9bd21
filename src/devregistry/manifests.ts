/** Handlers for manifests, tag listing and the catalog, and the checks a pushed manifest must pass. */
import { sha256 } from "../oci/digest";
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from "../oci/types";
import {
  Ctx,
  ErrorEntry,
  RegistryError,
  SHA256_RE,
  TAG_RE,
  readBody,
  sendBody,
  sendEmpty,
  sendJson,
  validateDigest,
} from "./http";
import type { Storage } from "./storage";

/** Manifests up to 4 MiB are accepted, the size the spec asks registries to support. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const GENERIC_TYPES = new Set(["", "application/json", "application/octet-stream", "text/plain"]);

type Kind = "image" | "index" | "other";

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError(400, "MANIFEST_INVALID", message, detail);
}

function manifestUnknown(name: string, reference: string): RegistryError {
  return new RegistryError(404, "MANIFEST_UNKNOWN", `manifest ${reference} is unknown to repository ${name}`, { reference });
}

/** Splits a reference into a digest or a tag; `what` decides how a malformed one is answered. */
function parseReference(reference: string, forWrite: boolean, name: string): { digest?: string; tag?: string } {
  if (SHA256_RE.test(reference)) return { digest: reference };
  if (TAG_RE.test(reference)) return { tag: reference };
  if (reference.includes(":")) validateDigest(reference);
  if (forWrite) throw invalid(`invalid tag ${JSON.stringify(reference)}: expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  throw manifestUnknown(name, reference);
}

interface Desc {
  digest: string;
  size: number;
  urls?: unknown;
}

function descriptor(value: unknown, where: string): Desc {
  const d = value as Partial<Desc> & { mediaType?: unknown };
  if (!d || typeof d !== "object" || Array.isArray(d)) throw invalid(`${where}: expected a descriptor object`);
  if (typeof d.digest !== "string" || !SHA256_RE.test(d.digest)) {
    throw invalid(`${where}: digest must be sha256:<64 hex>, got ${JSON.stringify(d.digest)}`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(`${where}: size must be a non-negative integer, got ${JSON.stringify(d.size)}`);
  }
  if (d.mediaType !== undefined && typeof d.mediaType !== "string") throw invalid(`${where}: mediaType must be a string`);
  return d as Desc;
}

/** Decides the media type to store and answer with: Content-Type, else the body's mediaType, else the shape. */
function mediaTypeOf(contentType: string | undefined, doc: Record<string, unknown>): { mediaType: string; kind: Kind } {
  const header = (contentType ?? "").split(";")[0].trim();
  const body = doc.mediaType;
  if (body !== undefined && typeof body !== "string") throw invalid("mediaType must be a string");
  if (!GENERIC_TYPES.has(header) && body !== undefined && body !== header) {
    throw invalid(`Content-Type ${header} does not match the manifest's mediaType ${body}`, { contentType: header, mediaType: body });
  }
  const looksIndex = Array.isArray(doc.manifests);
  const looksImage = doc.config !== undefined || Array.isArray(doc.layers);
  const mediaType = !GENERIC_TYPES.has(header)
    ? header
    : (body ?? (looksIndex ? MediaType.OCI_INDEX : looksImage ? MediaType.OCI_MANIFEST : header || "application/octet-stream"));
  const kind: Kind = INDEX_MEDIA_TYPES.includes(mediaType)
    ? "index"
    : MANIFEST_MEDIA_TYPES.includes(mediaType)
      ? "image"
      : looksIndex
        ? "index"
        : looksImage
          ? "image"
          : "other";
  return { mediaType, kind };
}

/**
 * Validates a pushed manifest and returns the media type to store. Image manifests must reference blobs
 * this repository has (foreign layers with `urls` excepted), with the right sizes; an index must reference
 * manifests this repository has.
 */
export async function checkManifest(storage: Storage, name: string, bytes: Buffer, contentType: string | undefined): Promise<string> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw invalid(`manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw invalid("manifest must be a JSON object");
  const obj = doc as Record<string, unknown>;
  const { mediaType, kind } = mediaTypeOf(contentType, obj);
  if (kind === "other") return mediaType;
  if (obj.schemaVersion !== 2) throw invalid(`schemaVersion must be 2, got ${JSON.stringify(obj.schemaVersion)}`);
  const missing: ErrorEntry[] = [];
  if (kind === "image") {
    const refs: Desc[] = [descriptor(obj.config, "config")];
    if (!Array.isArray(obj.layers)) throw invalid("layers must be an array");
    obj.layers.forEach((l, i) => refs.push(descriptor(l, `layers[${i}]`)));
    for (const d of refs) {
      if (Array.isArray(d.urls) && d.urls.length > 0) continue; // foreign layer: not stored here
      const size = await storage.repoBlobSize(name, d.digest);
      if (size === undefined) {
        missing.push({ code: "MANIFEST_BLOB_UNKNOWN", message: `blob ${d.digest} is unknown to repository ${name}`, detail: { digest: d.digest } });
      } else if (size !== d.size) {
        throw invalid(`blob ${d.digest} has ${size} bytes, the manifest says ${d.size}`, { digest: d.digest, size, declared: d.size });
      }
    }
  } else {
    if (!Array.isArray(obj.manifests)) throw invalid("manifests must be an array");
    const refs = obj.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
    for (const d of refs) {
      if ((await storage.manifestMediaType(name, d.digest)) === undefined) {
        missing.push({ code: "MANIFEST_BLOB_UNKNOWN", message: `manifest ${d.digest} is unknown to repository ${name}`, detail: { digest: d.digest } });
      }
    }
  }
  if (missing.length > 0) {
    const [first, ...more] = missing;
    throw new RegistryError(400, "MANIFEST_BLOB_UNKNOWN", first.message, first.detail, {}, more);
  }
  return mediaType;
}

/** PUT /v2/<name>/manifests/<reference>: stores the exact bytes (201). */
export async function putManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  const { req, res, storage } = ctx;
  const ref = parseReference(reference, true, name);
  const bytes = await readBody(req, MAX_MANIFEST_BYTES);
  ctx.bytesIn = bytes.length;
  const digest = sha256(bytes);
  if (ref.digest && ref.digest !== digest) {
    throw new RegistryError(400, "DIGEST_INVALID", `manifest has digest ${digest}, not ${ref.digest}`, { expected: ref.digest, actual: digest });
  }
  const mediaType = await checkManifest(storage, name, bytes, req.headers["content-type"]);
  await storage.putManifest(name, bytes, mediaType, ref.tag);
  sendEmpty(res, 201, { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest });
}

/** GET/HEAD /v2/<name>/manifests/<reference>: the stored bytes with their stored media type. */
export async function getManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  parseReference(reference, false, name);
  const m = await ctx.storage.getManifest(name, reference);
  if (!m) throw manifestUnknown(name, reference);
  sendBody(ctx.res, ctx.req, 200, m.bytes, {
    "Content-Type": m.mediaType,
    "Docker-Content-Digest": m.digest,
    ETag: `"${m.digest}"`,
  });
}

/** DELETE /v2/<name>/manifests/<digest> removes the manifest and its tags; by tag, just the tag (202). */
export async function deleteManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  const ref = parseReference(reference, false, name);
  const ok = ref.digest ? await ctx.storage.deleteManifest(name, ref.digest) : await ctx.storage.deleteTag(name, ref.tag!);
  if (!ok) throw manifestUnknown(name, reference);
  sendEmpty(ctx.res, 202);
}

/** Applies `n` and `last` to a sorted list; `link` is set when more items follow the page. */
export function paginate(items: string[], params: URLSearchParams, path: string): { page: string[]; link?: string } {
  const last = params.get("last");
  const nParam = params.get("n");
  let rest = last !== null && last !== "" ? items.filter((t) => t > last) : items;
  if (nParam === null || nParam === "") return { page: rest };
  if (!/^\d+$/.test(nParam)) throw new RegistryError(400, "UNSUPPORTED", `n must be a non-negative integer, got ${JSON.stringify(nParam)}`);
  const n = Number(nParam);
  if (n === 0) return { page: [] };
  const page = rest.slice(0, n);
  rest = rest.slice(n);
  if (rest.length === 0) return { page };
  return { page, link: `<${path}?n=${n}&last=${encodeURIComponent(page[page.length - 1])}>; rel="next"` };
}

/** GET /v2/<name>/tags/list (sorted; `n`/`last` pagination with a Link header). */
export async function listTags(ctx: Ctx, name: string): Promise<void> {
  const tags = await ctx.storage.listTags(name);
  if (!tags) throw new RegistryError(404, "NAME_UNKNOWN", `repository ${name} is not known to this registry`, { name });
  const { page, link } = paginate(tags, ctx.url.searchParams, `/v2/${name}/tags/list`);
  sendJson(ctx.res, ctx.req, 200, { name, tags: page }, link ? { Link: link } : {});
}

/** GET /v2/_catalog (sorted; `n`/`last` pagination with a Link header). */
export async function catalog(ctx: Ctx): Promise<void> {
  const repos = await ctx.storage.listRepositories();
  const { page, link } = paginate(repos, ctx.url.searchParams, "/v2/_catalog");
  sendJson(ctx.res, ctx.req, 200, { repositories: page }, link ? { Link: link } : {});
}
