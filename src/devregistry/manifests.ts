/**
 * Handlers for manifests (PUT checked by manifest-check.ts, GET/HEAD, DELETE), tag listing and the catalog.
 * GET/HEAD answer the stored media type as Content-Type; a manifest an older registry stored with a media
 * type outside the grammar (or a damaged record) is answered 404 MANIFEST_UNKNOWN naming it, never 500.
 */
import { type Digest, isDigest, sha256 } from "../oci/digest";
import { isMediaType, isTag, TAG_GRAMMAR } from "../oci/grammar";
import type { Ctx } from "./context";
import { checkManifest } from "./manifest-check";
import { validateDigest } from "./names";
import { ErrorAnswer } from "./error-answer";
import { paginate } from "./paginate";
import { recordReferrer, subjectOf } from "./referrers";
import { readBody } from "./request-body";
import { sendBody, sendEmpty, sendJson } from "./responses";

/** Manifests up to 4 MiB are accepted, the size the spec asks registries to support. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function manifestUnknown(name: string, reference: string): ErrorAnswer {
  return new ErrorAnswer(404, "MANIFEST_UNKNOWN", `manifest ${reference} is unknown to repository ${name}`, {
    reference,
  });
}

/** Splits a reference into a digest or a tag; `forWrite` decides how a malformed one is answered. */
function parseReference(reference: string, forWrite: boolean, name: string): { digest?: Digest; tag?: string } {
  if (isDigest(reference)) return { digest: reference };
  if (isTag(reference)) return { tag: reference };
  if (reference.includes(":")) validateDigest(reference);
  if (forWrite) {
    throw new ErrorAnswer(
      400,
      "MANIFEST_INVALID",
      `invalid tag ${JSON.stringify(reference)}: expected ${TAG_GRAMMAR}`,
      { tag: reference },
    );
  }
  throw manifestUnknown(name, reference);
}

/** PUT /v2/<name>/manifests/<reference>: stores the exact bytes (201). */
export async function putManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  const { req, res, storage } = ctx;
  const ref = parseReference(reference, true, name);
  const bytes = await readBody(req, MAX_MANIFEST_BYTES);
  ctx.bytesIn = bytes.length;
  const digest = sha256(bytes);
  if (ref.digest && ref.digest !== digest) {
    throw new ErrorAnswer(400, "DIGEST_INVALID", `manifest has digest ${digest}, not ${ref.digest}`, {
      expected: ref.digest,
      actual: digest,
    });
  }
  const mediaType = await checkManifest(storage, name, bytes, req.headers["content-type"]);
  const subject = subjectOf(bytes);
  await storage.putManifest(name, bytes, mediaType, ref.tag);
  if (subject) await recordReferrer(storage, name, subject, bytes, mediaType);
  sendEmpty(res, 201, {
    Location: `/v2/${name}/manifests/${digest}`,
    "Docker-Content-Digest": digest,
    ...(subject ? { "OCI-Subject": subject } : {}),
  });
}

/** GET/HEAD /v2/<name>/manifests/<reference>: the stored bytes with their stored media type. */
export async function getManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  parseReference(reference, false, name);
  const m = await ctx.storage.getManifest(name, reference);
  if (!m) throw manifestUnknown(name, reference);
  if (!isMediaType(m.mediaType)) {
    throw new ErrorAnswer(
      404,
      "MANIFEST_UNKNOWN",
      `manifest ${m.digest} in repository ${name} was stored with an invalid media type ${JSON.stringify(m.mediaType)}; delete it and push it again`,
      { reference, digest: m.digest, mediaType: m.mediaType },
    );
  }
  sendBody(ctx.res, ctx.req, 200, m.bytes, {
    "Content-Type": m.mediaType,
    "Docker-Content-Digest": m.digest,
    ETag: `"${m.digest}"`,
  });
}

/** DELETE /v2/<name>/manifests/<digest> removes the manifest and its tags; by tag, just the tag (202). */
export async function deleteManifest(ctx: Ctx, name: string, reference: string): Promise<void> {
  const ref = parseReference(reference, false, name);
  const ok = ref.digest
    ? await ctx.storage.deleteManifest(name, ref.digest)
    : await ctx.storage.deleteTag(name, ref.tag!);
  if (!ok) throw manifestUnknown(name, reference);
  sendEmpty(ctx.res, 202);
}

/** GET /v2/<name>/tags/list (sorted; `n`/`last` pagination with a Link header). */
export async function listTags(ctx: Ctx, name: string): Promise<void> {
  const tags = await ctx.storage.listTags(name);
  if (!tags) throw new ErrorAnswer(404, "NAME_UNKNOWN", `repository ${name} is not known to this registry`, { name });
  const { page, link } = paginate(tags, ctx.url.searchParams, `/v2/${name}/tags/list`);
  sendJson(ctx.res, ctx.req, 200, { name, tags: page }, link ? { Link: link } : {});
}

/** GET /v2/_catalog (sorted; `n`/`last` pagination with a Link header). */
export async function catalog(ctx: Ctx): Promise<void> {
  const repos = await ctx.storage.listRepositories();
  const { page, link } = paginate(repos, ctx.url.searchParams, "/v2/_catalog");
  sendJson(ctx.res, ctx.req, 200, { repositories: page }, link ? { Link: link } : {});
}
