/**
 * OCI 1.1 artifacts attached to a pushed image as referrers: an image manifest with an `artifactType`, the empty
 * config (`application/vnd.oci.empty.v1+json`, `{}`), one layer and `subject` = the image's manifest descriptor.
 * SBOMs (src/sbom/attach.ts) and Sigstore bundles (src/sign/attach.ts) are both this; src/registry/referrers.ts
 * says how the registry learns of them (referrers API, or the `sha256-<hex>` fallback tag).
 */
import type { Keychain } from "../registry-auth/keychain";
import { bufferBlob } from "../layer/blob";
import { sha256 } from "../oci/digest";
import { type Descriptor, type Manifest, MediaType } from "../oci/types";
import { RegistryClient } from "./client";
import type { Logger } from "./http";
import { putReferrer, type PutReferrerResult } from "./referrers";

export const EMPTY_JSON = Buffer.from("{}");

export interface Artifact {
  artifactType: string;
  /** The one layer's bytes, media type (default: artifactType) and annotations. */
  bytes: Buffer;
  layerMediaType?: string;
  layerAnnotations?: Record<string, string>;
  /** The manifest's annotations. */
  annotations?: Record<string, string>;
}

/** The referrer manifest's bytes and its descriptor (for the fallback index). */
export function artifactManifest(artifact: Artifact, subject: Descriptor): { bytes: Buffer; descriptor: Descriptor } {
  const { artifactType } = artifact;
  const layer: Descriptor = {
    mediaType: artifact.layerMediaType ?? artifactType,
    digest: sha256(artifact.bytes),
    size: artifact.bytes.length,
  };
  if (artifact.layerAnnotations) layer.annotations = artifact.layerAnnotations;
  const manifest: Manifest & { subject: Descriptor } = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    artifactType,
    config: { mediaType: MediaType.OCI_EMPTY, digest: sha256(EMPTY_JSON), size: EMPTY_JSON.length },
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(artifact.annotations ? { annotations: artifact.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = {
    mediaType: MediaType.OCI_MANIFEST,
    digest: sha256(bytes),
    size: bytes.length,
    artifactType,
  };
  if (artifact.annotations) descriptor.annotations = artifact.annotations;
  return { bytes, descriptor };
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

/** An artifact's blobs on their way up, through the client that will push its referrer manifest (prepareArtifact). */
export interface PreparedArtifact {
  client: RegistryClient;
  blobs: Promise<void>;
}

/**
 * Starts uploading an artifact's blobs (the empty config and its layer, each when missing), which need no subject:
 * a push starts them beside the image's own uploads, and attachArtifact, given the result, only waits for them and
 * pushes the referrer manifest once the image is there. A failure is attachArtifact's to report (no unhandled
 * rejection when the image push fails first and it is never called).
 */
export function prepareArtifact(
  target: { registry: string; repository: string },
  artifact: Artifact,
  opts: AttachOptions = {},
): PreparedArtifact {
  const client = new RegistryClient(target.registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    log: opts.log,
    scheme: opts.scheme,
    access: "push",
  });
  const blobs = (async () => {
    const { uploadBlob } = await import("./upload.js");
    const layer = bufferBlob(artifact.bytes, artifact.layerMediaType ?? artifact.artifactType);
    await Promise.all(
      [bufferBlob(EMPTY_JSON, MediaType.OCI_EMPTY), layer].map(async (blob) => {
        if (!(await client.blobExists(target.repository, blob.digest)))
          await uploadBlob(client, target.repository, blob);
      }),
    );
  })();
  blobs.catch(() => {});
  return { client, blobs };
}

/**
 * Uploads the artifact and the empty config (when missing; or waits for `prepared`, which started that), then pushes
 * the referrer manifest.
 */
export async function attachArtifact(
  target: { registry: string; repository: string },
  subject: Descriptor,
  artifact: Artifact,
  opts: AttachOptions = {},
  prepared: PreparedArtifact = prepareArtifact(target, artifact, opts),
): Promise<AttachResult> {
  const { repository } = target;
  const { bytes, descriptor } = artifactManifest(artifact, subject);
  await prepared.blobs;
  const result = await putReferrer(prepared.client, repository, bytes, descriptor, subject.digest);
  return { ...result, reference: `${prepared.client.registry}/${repository}@${result.digest}` };
}
