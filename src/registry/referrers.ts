/**
 * OCI distribution 1.1 referrers: pushing a manifest whose `subject` names another, and listing the manifests
 * that name one. A registry that supports the referrers API answers the PUT with an `OCI-Subject` header and
 * serves `GET /v2/<name>/referrers/<digest>`; for one that does not (distribution 2.8), the client keeps the
 * spec's fallback: an image index tagged `sha256-<hex of the subject>` listing the referrers' descriptors.
 * The referrers API may answer in pages (`Link: <...>; rel="next"`, as the spec allows when the list does not fit
 * one response): they are followed on the same registry, up to MAX_REFERRER_PAGES.
 */
import { PipelineError } from "../errors";
import { type Digest, sha256 } from "../oci/digest";
import { parseIndexDescriptors } from "../oci/descriptor";
import { type Descriptor, type Index, MediaType } from "../oci/types";
import type { RegistryClient } from "./client";
import { RegistryError } from "./errors";
import { registryText, registryUrl } from "./registry-text";

const MAX_INDEX_BYTES = 4 * 1024 * 1024;

/** At most this many pages of one referrers listing are read; a registry naming more is E_TOO_MANY_PAGES. */
export const MAX_REFERRER_PAGES = 100;

/** The fallback tag of a subject: `sha256:<hex>` → `sha256-<hex>`. */
export function referrersTag(subject: Digest): string {
  return subject.replace(":", "-");
}

export interface PutReferrerResult {
  digest: Digest;
  /** "referrers": the registry indexed it (OCI-Subject); "tag": we added it to the fallback index. */
  via: "referrers" | "tag";
  tag?: string;
}

/** An empty index (the fallback tag's content before its first referrer). */
function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
}

function parseIndex(bytes: Buffer, what: string): Index {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new PipelineError("E_REGISTRY", `${what}: not an image index (${registryText((e as Error).message)})`);
  }
  const index = parseIndexDescriptors(doc, what);
  if (!index) throw new PipelineError("E_REGISTRY", `${what}: not an image index (no \`manifests\` list)`);
  return index;
}

/**
 * PUTs `bytes` (an image manifest with a `subject`) by digest. When the registry does not answer `OCI-Subject`,
 * the descriptor is added to the fallback index at tag `sha256-<hex>` (fetched, extended, PUT back).
 */
export async function putReferrer(
  client: RegistryClient,
  repository: string,
  bytes: Buffer,
  descriptor: Descriptor,
  subject: Digest,
): Promise<PutReferrerResult> {
  const digest = sha256(bytes);
  const operation = `push referrer ${digest} of ${subject} to ${client.registry}/${repository}`;
  const res = await client.send({
    method: "PUT",
    path: `/v2/${repository}/manifests/${digest}`,
    repository,
    headers: { "Content-Type": descriptor.mediaType },
    body: bytes,
    operation,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 202)
    throw await client.fail(res, repository, operation);
  await res.discard();
  const claimed = res.header("docker-content-digest");
  if (claimed && claimed !== digest)
    throw new PipelineError("E_DIGEST_MISMATCH", `${operation}: the registry stored ${claimed}`);
  if (res.header("oci-subject")) return { digest, via: "referrers" };

  const tag = referrersTag(subject);
  let index = emptyIndex();
  try {
    const current = await client.getManifest(repository, tag);
    index = parseIndex(current.bytes, `${client.registry}/${repository}:${tag}`);
  } catch (e) {
    if (!(e instanceof RegistryError && e.code === "E_NOT_FOUND")) throw e;
  }
  if (index.manifests.some((m) => m.digest === digest)) return { digest, via: "tag", tag };
  const put = (listed: Descriptor[]) => {
    const next: Index = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [...listed, descriptor] };
    if (index.annotations) next.annotations = index.annotations;
    const out = Buffer.from(JSON.stringify(next));
    if (out.length > MAX_INDEX_BYTES)
      throw new PipelineError(
        "E_REGISTRY",
        `${operation}: the fallback index ${tag} would exceed ${MAX_INDEX_BYTES} bytes`,
      );
    return client.putManifest(repository, tag, out, MediaType.OCI_INDEX);
  };
  try {
    await put(index.manifests);
  } catch (e) {
    // A referrer deleted since it was listed (e.g. a revoked signature): distribution refuses an index naming a
    // manifest it no longer has (MANIFEST_BLOB_UNKNOWN). The ones still there are kept, the gone ones dropped, once.
    if (!(e instanceof RegistryError && e.hasCode("MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"))) throw e;
    const kept: Descriptor[] = [];
    for (const m of index.manifests) if (await client.headManifest(repository, m.digest)) kept.push(m);
    if (kept.length === index.manifests.length) throw e;
    await put(kept);
  }
  return { digest, via: "tag", tag };
}

export interface Referrers {
  manifests: Descriptor[];
  /** Where they were found: the referrers API, or the fallback tag. */
  via: "referrers" | "tag";
}

export interface ListReferrersOptions {
  /** Only descriptors with one of these artifactTypes (default: all). */
  artifactTypes?: readonly string[];
  /** Only the last `keep` of them in listing order (the newest: a registry lists in push order; default: all). */
  keep?: number;
}

/**
 * The manifests referring to `subject` (optionally of some artifactTypes, optionally only the newest `keep`): from the
 * referrers API when the registry has it (answers 200; every page, in order, a descriptor listed twice kept once), else
 * from the fallback tag (absent: none). Each page is filtered and trimmed as it arrives, so what is held is one page
 * (at most 4 MiB) and the `keep` descriptors kept, however many pages a registry serves (issue #41: 100 pages held
 * whole took `verify` to ~815 MB). The 404 of a registry without the API is read to its end, so no socket stays pinned.
 */
export async function listReferrers(
  client: RegistryClient,
  repository: string,
  subject: Digest,
  opts: ListReferrersOptions = {},
): Promise<Referrers> {
  const operation = `list referrers of ${subject} in ${client.registry}/${repository}`;
  const types = opts.artifactTypes;
  const query = types?.length === 1 ? `?artifactType=${encodeURIComponent(types[0])}` : "";
  const get = (target: { path: string } | { url: URL }) =>
    client.send({ method: "GET", ...target, repository, headers: { Accept: MediaType.OCI_INDEX }, operation });
  const kept = new Map<string, Descriptor>();
  const take = (ms: Descriptor[]) => {
    for (const m of ms) {
      if (types && !(m.artifactType !== undefined && types.includes(m.artifactType))) continue;
      if (kept.has(m.digest)) continue;
      kept.set(m.digest, m);
      if (opts.keep === undefined || kept.size <= opts.keep) continue;
      const oldest = kept.keys().next();
      if (!oldest.done) kept.delete(oldest.value);
    }
  };
  let res = await get({ path: `/v2/${repository}/referrers/${subject}${query}` });
  if (res.status === 200) {
    for (let page = 1; ; page++) {
      const where = page === 1 ? operation : `${operation} (page ${page}, ${registryUrl(res.url)})`;
      take(parseIndex(await res.buffer(MAX_INDEX_BYTES), where).manifests);
      const next = await client.nextPage(res, operation);
      if (!next) break;
      if (page >= MAX_REFERRER_PAGES) {
        throw new PipelineError(
          "E_TOO_MANY_PAGES",
          `${operation}: registry ${client.registry} names more than ${MAX_REFERRER_PAGES} pages of referrers (Link: rel="next"); stopped before ${registryUrl(next)}`,
        );
      }
      res = await get({ url: next });
      if (res.status !== 200) throw await client.fail(res, repository, `${operation} (page ${page + 1})`);
    }
    return { manifests: [...kept.values()], via: "referrers" };
  }
  if (res.status === 401 || res.status === 403) throw await client.fail(res, repository, operation);
  await res.discard();
  const tag = referrersTag(subject);
  try {
    const current = await client.getManifest(repository, tag);
    take(parseIndex(current.bytes, `${client.registry}/${repository}:${tag}`).manifests);
    return { manifests: [...kept.values()], via: "tag" };
  } catch (e) {
    if (e instanceof RegistryError && e.code === "E_NOT_FOUND") return { manifests: [], via: "tag" };
    throw e;
  }
}
