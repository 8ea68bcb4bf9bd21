/**
 * Verifying an image's cosign 3 signature (or a DSSE attestation) with a public key: among the image's referrers
 * (referrers API, else the `sha256-<hex>` fallback tag), a Sigstore bundle whose DSSE envelope verifies with the key
 * and whose in-toto statement names the image's digest with the wanted predicate type. cosign lists its own bundles
 * in the fallback index with artifactType application/vnd.oci.empty.v1+json, so those are read too. For the image
 * signature, when no bundle verifies, cosign's legacy `sha256-<hex>.sig` tag form (src/sign/legacy.ts) is checked
 * too. Anything else is E_SIGNATURE naming the digest and, for each signature looked at, why it did not verify. What
 * one verification may cost is bounded whatever the registry serves: src/sign/budget.ts.
 */
import type { KeyObject } from "node:crypto";
import type { Digest } from "../oci/digest";
import { PipelineError } from "../errors";
import { parseManifestDescriptors } from "../oci/descriptor";
import { type Descriptor, MediaType, type Manifest } from "../oci/types";
import type { RegistryClient } from "../registry/client";
import { listReferrers, referrersTag } from "../registry/referrers";
import { BudgetSpent, VerifyBudget } from "./budget";
import { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, parseBundle } from "./bundle";
import { openEnvelope, type Statement, statementCovers } from "./dsse";
import { legacySignatureTag, verifyLegacySignature } from "./legacy";

/** At most this many bundle referrers (the newest) are read for one verification (src/sign/budget.ts). */
export const MAX_BUNDLES = 32;
const MAX_BUNDLE_BYTES = 1024 * 1024;

export interface Verified {
  /** The image's digest. */
  digest: Digest;
  /** The referrer manifest whose bundle verified (the `.sig` manifest, for a legacy signature). */
  referrer: string;
  /** The signed in-toto statement (bundles); a legacy signature signs a simple-signing payload instead. */
  statement?: Statement;
  simpleSigning?: unknown;
  via: "referrers" | "tag" | "legacy-tag";
}

export interface VerifyOptions {
  predicateType?: string;
}

export async function verifyStatement(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  publicKey: KeyObject,
  opts: VerifyOptions = {},
): Promise<Verified> {
  const predicateType = opts.predicateType ?? COSIGN_SIGN_PREDICATE;
  const what = predicateType === COSIGN_SIGN_PREDICATE ? "signature" : `attestation (${predicateType})`;
  const image = `${client.registry}/${repository}@${digest}`;
  const budget = new VerifyBudget(image);
  // Filtered page by page and only the newest MAX_BUNDLES kept: a listing of any length costs one page of memory.
  const listed = await listReferrers(client, repository, digest, {
    artifactTypes: [BUNDLE_MEDIA_TYPE, MediaType.OCI_EMPTY],
    keep: MAX_BUNDLES,
  });
  const candidates = [...listed.manifests].reverse();
  const failures: string[] = [];
  for (const desc of candidates) {
    const where = `bundle ${desc.digest}`;
    let manifest: (Manifest & { subject?: Descriptor }) | undefined;
    try {
      const fetched = await client.getManifest(repository, desc.digest);
      budget.spendBytes(fetched.bytes.length, where);
      manifest = parseManifestDescriptors(JSON.parse(fetched.bytes.toString("utf8")), where);
    } catch (e) {
      if (e instanceof BudgetSpent) throw e;
      failures.push(`${where}: ${(e as Error).message}`);
      continue;
    }
    if (!manifest) {
      failures.push(`${where}: not an image manifest (no config or layers)`);
      continue;
    }
    if (manifest.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const declared = manifest.annotations?.["dev.sigstore.bundle.predicateType"];
    if (declared && declared !== predicateType) continue;
    if (manifest.subject?.digest !== digest) {
      failures.push(`${where}: its subject is ${manifest.subject?.digest ?? "missing"}`);
      continue;
    }
    const layer = manifest.layers?.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
    if (!layer) {
      failures.push(`${where}: no ${BUNDLE_MEDIA_TYPE} layer`);
      continue;
    }
    let statement: Statement;
    try {
      if (layer.size <= MAX_BUNDLE_BYTES) budget.spendBytes(layer.size, where);
      const bundle = parseBundle(await client.getBlob(repository, layer, MAX_BUNDLE_BYTES), where);
      if (!bundle.dsseEnvelope) throw new Error("it holds no DSSE envelope (a message signature is not checked)");
      const opened = openEnvelope(bundle.dsseEnvelope, publicKey, budget, where);
      if ("failure" in opened) throw new Error(opened.failure);
      statement = opened.statement;
    } catch (e) {
      if (e instanceof BudgetSpent) throw e;
      failures.push(`${where}: ${(e as Error).message}`);
      continue;
    }
    if (statement.predicateType !== predicateType) {
      failures.push(`${where}: signed predicate type ${JSON.stringify(statement.predicateType)}, not ${predicateType}`);
      continue;
    }
    if (!statementCovers(statement, digest)) {
      failures.push(
        `${where}: the signed statement names ${JSON.stringify(statement.subject.map((s) => s?.digest))}, not ${digest}`,
      );
      continue;
    }
    return { digest, referrer: desc.digest, statement, via: listed.via };
  }
  let legacyAbsent = true;
  if (predicateType === COSIGN_SIGN_PREDICATE) {
    const legacy = await verifyLegacySignature(client, repository, digest, publicKey, budget);
    if ("manifest" in legacy)
      return { digest, referrer: legacy.manifest, simpleSigning: legacy.payload, via: "legacy-tag" };
    if (!legacy.absent) {
      failures.push(`legacy signature ${legacy.failure}`);
      legacyAbsent = false;
    }
  }
  const looked = listed.via === "tag" ? `the fallback tag ${referrersTag(digest)}` : "the referrers API";
  const legacyNote =
    predicateType === COSIGN_SIGN_PREDICATE && legacyAbsent ? `, no legacy ${legacySignatureTag(digest)} tag` : "";
  const detail = failures.length
    ? failures.join("; ")
    : `no ${what} found (no ${BUNDLE_MEDIA_TYPE} referrer in ${looked}${legacyNote})`;
  throw new PipelineError("E_SIGNATURE", `${image}: the ${what} does not verify with the key: ${detail}`);
}
