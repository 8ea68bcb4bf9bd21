/**
 * cosign's legacy signature form, for verifiers older than cosign 3's bundles (`cosign verify
 * --new-bundle-format=false`): the tag `sha256-<hex>.sig` in the image's repository holds an image manifest whose
 * layers are "simple signing" payloads (`application/vnd.dev.cosign.simplesigning.v1+json`) naming the image's
 * digest, each with its ECDSA signature (base64 DER over the payload) in the annotation
 * `dev.cosignproject.cosign/signature`. A signature already at the tag stays: ours is added as one more layer.
 */
import { sign } from "node:crypto";
import type { Keychain } from "../auth/keychain";
import { bufferBlob } from "../layer/blob";
import { sha256 } from "../oci/digest";
import { Descriptor, Manifest, MediaType } from "../oci/types";
import { RegistryClient } from "../registry/client";
import { RegistryError } from "../registry/errors";
import type { SigningKey } from "./cosign-key";

export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

/** The tag of an image's legacy signatures: `sha256:<hex>` → `sha256-<hex>.sig`. */
export function legacySignatureTag(digest: string): string {
  return `${digest.replace(":", "-")}.sig`;
}

export function simpleSigningPayload(repository: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({ critical: { identity: { "docker-reference": repository }, image: { "docker-manifest-digest": digest }, type: "cosign container image signature" }, optional: null }),
  );
}

/** cosign's config of a signature manifest: fixed fields, the layers' digests as diff_ids. */
function signatureConfig(layers: Descriptor[]): Buffer {
  const zero = "0001-01-01T00:00:00Z";
  return Buffer.from(JSON.stringify({ architecture: "", created: zero, history: [{ created: zero }], os: "", rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) }, config: {} }));
}

export async function attachLegacySignature(
  target: { registry: string; repository: string },
  digest: string,
  key: SigningKey,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void },
): Promise<{ tag: string; digest: string }> {
  const client = new RegistryClient(target.registry, { keychain: opts.keychain, insecure: opts.insecure, log: opts.log, access: "push" });
  const { repository } = target;
  const tag = legacySignatureTag(digest);
  const payload = simpleSigningPayload(`${client.registry}/${repository}`, digest);
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    size: payload.length,
    digest: sha256(payload),
    annotations: { [SIGNATURE_ANNOTATION]: sign("sha256", payload, key.privateKey).toString("base64") },
  };
  let layers: Descriptor[] = [];
  try {
    const current = JSON.parse((await client.getManifest(repository, tag)).bytes.toString("utf8")) as Manifest;
    layers = Array.isArray(current.layers) ? current.layers : [];
  } catch (e) {
    if (!(e instanceof RegistryError && e.code === "E_NOT_FOUND")) throw e;
  }
  layers = [...layers, layer];
  const config = signatureConfig(layers);
  const { uploadBlob } = await import("../registry/upload");
  for (const blob of [bufferBlob(payload, SIMPLE_SIGNING_MEDIA_TYPE), bufferBlob(config, MediaType.OCI_CONFIG)]) {
    if (!(await client.blobExists(repository, blob.digest))) await uploadBlob(client, repository, blob);
  }
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: { mediaType: MediaType.OCI_CONFIG, size: config.length, digest: sha256(config) }, layers };
  const pushed = await client.putManifest(repository, tag, Buffer.from(JSON.stringify(manifest)), MediaType.OCI_MANIFEST);
  return { tag, digest: pushed };
}
