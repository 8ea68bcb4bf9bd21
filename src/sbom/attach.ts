/**
 * Attaches an SBOM to a pushed image as an OCI 1.1 referrer: an image manifest with `artifactType:
 * application/spdx+json`, the empty config (`application/vnd.oci.empty.v1+json`, `{}`), one layer (the SPDX
 * document) and `subject` = the image's manifest descriptor. See src/registry/referrers.ts for how the registry
 * learns of it (referrers API, or the `sha256-<hex>` fallback tag).
 */
import type { Keychain } from "../auth/keychain";
import { bufferBlob } from "../layer/blob";
import { sha256 } from "../oci/digest";
import { Descriptor, Manifest, MediaType } from "../oci/types";
import { RegistryClient } from "../registry/client";
import type { Logger } from "../registry/http";
import { putReferrer, PutReferrerResult } from "../registry/referrers";
import { SPDX_MEDIA_TYPE } from "./spdx";

export const EMPTY_JSON = Buffer.from("{}");
export const SBOM_TITLE = "sbom.spdx.json";

/** The referrer manifest's bytes and its descriptor (for the fallback index). */
export function sbomManifest(sbom: Buffer, subject: Descriptor): { bytes: Buffer; descriptor: Descriptor } {
  const manifest: Manifest & { subject: Descriptor } = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    artifactType: SPDX_MEDIA_TYPE,
    config: { mediaType: MediaType.OCI_EMPTY, digest: sha256(EMPTY_JSON), size: EMPTY_JSON.length },
    layers: [{ mediaType: SPDX_MEDIA_TYPE, digest: sha256(sbom), size: sbom.length, annotations: { "org.opencontainers.image.title": SBOM_TITLE } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, descriptor: { mediaType: MediaType.OCI_MANIFEST, digest: sha256(bytes), size: bytes.length, artifactType: SPDX_MEDIA_TYPE } };
}

export interface AttachOptions {
  keychain?: Keychain;
  insecure?: boolean;
  log?: Logger;
  scheme?: "http" | "https";
}

export interface AttachResult extends PutReferrerResult {
  /** `registry/repository@<referrer digest>` */
  reference: string;
}

/** Uploads the SBOM and the empty config (when missing), then pushes the referrer manifest. */
export async function attachSbom(
  target: { registry: string; repository: string },
  subject: Descriptor,
  sbom: Buffer,
  opts: AttachOptions = {},
): Promise<AttachResult> {
  const client = new RegistryClient(target.registry, { keychain: opts.keychain, insecure: opts.insecure, log: opts.log, scheme: opts.scheme, access: "push" });
  const { repository } = target;
  const { bytes, descriptor } = sbomManifest(sbom, subject);
  const { uploadBlob } = await import("../registry/upload");
  for (const blob of [bufferBlob(EMPTY_JSON, MediaType.OCI_EMPTY), bufferBlob(sbom, SPDX_MEDIA_TYPE)]) {
    if (!(await client.blobExists(repository, blob.digest))) await uploadBlob(client, repository, blob);
  }
  const result = await putReferrer(client, repository, bytes, descriptor, subject.digest);
  return { ...result, reference: `${client.registry}/${repository}@${result.digest}` };
}
