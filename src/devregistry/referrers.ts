/**
 * The referrers API (OCI distribution 1.1): a manifest PUT with a `subject` is recorded under
 * `repositories/<name>/_referrers/<subject hex>/<referrer hex>` (its descriptor as JSON) and answered with an
 * `OCI-Subject` header, so clients know not to maintain the `sha256-<hex>` fallback tag;
 * `GET /v2/<name>/referrers/<digest>[?artifactType=T]` answers an image index of those descriptors (manifests
 * deleted since drop out), filtered by artifactType (`OCI-Filters-Applied: artifactType`). With a page size
 * (`referrersPageSize`, or a smaller `n` from the client) the list comes in pages ordered by digest, each naming the
 * next with `Link: <...?n=N&last=DIGEST>; rel="next"`, the way tags are listed.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { type Digest, digestHex, isDigest, sha256 } from "../oci/digest";
import { MediaType } from "../oci/types";
import type { Ctx } from "./context";
import { validateDigest } from "./names";
import { paginate } from "./paginate";
import { ErrorAnswer } from "./error-answer";
import { sendJson } from "./responses";
import type { Storage } from "./storage";

interface ReferrerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function referrersDir(storage: Storage, name: string, subject: Digest): string {
  return join(storage.repoDir(name), "_referrers", digestHex(subject));
}

/**
 * The subject digest of a manifest about to be stored (undefined when it has none); a `subject` that is not a
 * descriptor with a sha256 digest is 400 MANIFEST_INVALID naming the value.
 */
export function subjectOf(bytes: Buffer): Digest | undefined {
  const doc = JSON.parse(bytes.toString("utf8")) as { subject?: unknown };
  if (doc.subject === undefined) return undefined;
  const digest = (doc.subject as { digest?: unknown } | null)?.digest;
  if (typeof digest !== "string" || !isDigest(digest)) {
    throw new ErrorAnswer(
      400,
      "MANIFEST_INVALID",
      `subject.digest: expected a sha256 digest, got ${JSON.stringify(digest) ?? "nothing"}`,
      {
        field: "subject.digest",
      },
    );
  }
  return digest;
}

/** Records a stored manifest as a referrer of `subject`. */
export async function recordReferrer(
  storage: Storage,
  name: string,
  subject: Digest,
  bytes: Buffer,
  mediaType: string,
): Promise<void> {
  const doc = JSON.parse(bytes.toString("utf8")) as {
    artifactType?: string;
    config?: { mediaType?: string };
    annotations?: Record<string, string>;
  };
  const digest = sha256(bytes);
  const desc: ReferrerDescriptor = { mediaType, digest, size: bytes.length };
  // The spec: artifactType, else (for an image manifest) the config's media type.
  const artifactType = doc.artifactType ?? doc.config?.mediaType;
  if (artifactType) desc.artifactType = artifactType;
  if (doc.annotations && Object.keys(doc.annotations).length) desc.annotations = doc.annotations;
  await storage.writeAtomic(join(referrersDir(storage, name, subject), digestHex(digest)), JSON.stringify(desc));
}

/** GET /v2/<name>/referrers/<digest>: an image index (empty when nothing refers to it), sorted by digest, paginated. */
export async function listReferrers(ctx: Ctx, name: string, subjectParam: string): Promise<void> {
  const subject = validateDigest(subjectParam);
  let files: string[] = [];
  try {
    files = (await fsp.readdir(referrersDir(ctx.storage, name, subject))).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const wanted = ctx.url.searchParams.get("artifactType");
  const params = pageParams(ctx);
  const last = params.get("last") || undefined;
  const n = params.get("n");
  // Records are read from `last` on until the page and one more are found (is there a next page?), not all of them.
  const enough = n && /^\d+$/.test(n) ? Number(n) + 1 : Infinity;
  const manifests: ReferrerDescriptor[] = [];
  for (const f of files) {
    if (manifests.length >= enough) break;
    const digest = `sha256:${f}`;
    if (!isDigest(digest) || (last !== undefined && digest <= last)) continue;
    let desc: ReferrerDescriptor;
    try {
      desc = JSON.parse(
        await fsp.readFile(join(referrersDir(ctx.storage, name, subject), f), "utf8"),
      ) as ReferrerDescriptor;
    } catch {
      continue; // a damaged record: skipped rather than failing the whole list
    }
    if (desc.digest !== digest || (await ctx.storage.manifestMediaType(name, digest)) === undefined) continue;
    if (wanted && desc.artifactType !== wanted) continue;
    manifests.push(desc);
  }
  const { page, link } = paginate(
    manifests.map((m) => m.digest),
    params,
    `/v2/${name}/referrers/${subject}${wanted ? `?artifactType=${encodeURIComponent(wanted)}` : ""}`,
  );
  sendJson(
    ctx.res,
    ctx.req,
    200,
    { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: manifests.slice(0, page.length) },
    {
      "Content-Type": MediaType.OCI_INDEX,
      ...(wanted ? { "OCI-Filters-Applied": "artifactType" } : {}),
      ...(link ? { Link: link } : {}),
    },
  );
}

/** The request's `n` and `last`, with `n` at most the registry's page size. */
function pageParams(ctx: Ctx): URLSearchParams {
  const params = new URLSearchParams(ctx.url.searchParams);
  const size = ctx.referrersPageSize;
  if (size === undefined) return params;
  const n = params.get("n");
  if (n === null || n === "" || (/^\d+$/.test(n) && Number(n) > size)) params.set("n", String(size));
  return params;
}
