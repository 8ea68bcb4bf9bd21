/**
 * cosign's legacy signature form, for verifiers older than cosign 3's bundles (`cosign verify
 * --new-bundle-format=false`): the tag `sha256-<hex>.sig` in the image's repository holds an image manifest whose
 * layers are "simple signing" payloads (`application/vnd.dev.cosign.simplesigning.v1+json`) naming the image's
 * digest, each with its ECDSA signature (base64 DER over the payload) in the annotation
 * `dev.cosignproject.cosign/signature`. A signature already at the tag stays: ours is added as one more layer.
 */
import { type KeyObject, sign, verify } from "node:crypto";
import type { Keychain } from "../registry-auth/keychain";
import { bufferBlob } from "../layer/blob";
import { type Digest, sha256 } from "../oci/digest";
import { parseManifestDescriptors } from "../oci/descriptor";
import { type Descriptor, type Manifest, MediaType } from "../oci/types";
import { RegistryClient } from "../registry/client";
import { RegistryError } from "../registry/errors";
import { registryText } from "../registry/registry-text";
import { BudgetSpent, VerifyBudget } from "./budget";
import type { SigningKey } from "./cosign-key";
import { signEnvelope, statementFor } from "./dsse";

export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
const SIMPLE_SIGNING_TYPE = "cosign container image signature";

/** The tag of an image's legacy signatures: `sha256:<hex>` → `sha256-<hex>.sig`. */
export function legacySignatureTag(digest: Digest): string {
  return `${digest.replace(":", "-")}.sig`;
}

export function simpleSigningPayload(repository: string, digest: Digest): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": repository },
        image: { "docker-manifest-digest": digest },
        type: SIMPLE_SIGNING_TYPE,
      },
      optional: null,
    }),
  );
}

/** At most this many signature layers (the newest), of at most this many bytes each, are read from a `.sig` manifest. */
const MAX_LEGACY_LAYERS = 32;
const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * The legacy signature of `digest` that verifies with `publicKey`: a simple-signing layer at `sha256-<hex>.sig` whose
 * signature annotation verifies over its payload and whose payload names `digest` (what `cosign verify
 * --new-bundle-format=false` checks). Returns the `.sig` manifest's digest and the payload; else why none verifies
 * (`absent` when there is no such tag). Layers are tried newest first, each charged to `budget`.
 */
export async function verifyLegacySignature(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  publicKey: KeyObject,
  budget: VerifyBudget = new VerifyBudget(`${client.registry}/${repository}@${digest}`),
): Promise<{ manifest: string; payload: unknown } | { failure: string; absent?: boolean }> {
  const tag = legacySignatureTag(digest);
  let fetched;
  try {
    fetched = await client.getManifest(repository, tag);
  } catch (e) {
    if (e instanceof RegistryError && e.code === "E_NOT_FOUND")
      return { failure: `no legacy signature tag ${tag}`, absent: true };
    throw e;
  }
  budget.spendBytes(fetched.bytes.length, tag);
  let manifest: Manifest | undefined;
  try {
    manifest = parseManifestDescriptors(JSON.parse(fetched.bytes.toString("utf8")), tag);
  } catch (e) {
    return {
      failure: `${tag}: the manifest is not JSON or names a bad digest (${registryText((e as Error).message)})`,
    };
  }
  // Newest first: cosign appends a signature as the manifest's last layer, so after re-signing or a key rotation the
  // one that verifies is at the end; the oldest beyond MAX_LEGACY_LAYERS are not looked at.
  const layers = (manifest?.layers ?? [])
    .filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE)
    .reverse()
    .slice(0, MAX_LEGACY_LAYERS);
  const failures: string[] = [];
  for (const layer of layers) {
    const sig = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (typeof sig !== "string") {
      failures.push(`layer ${layer.digest}: no ${SIGNATURE_ANNOTATION} annotation`);
      continue;
    }
    try {
      if (layer.size <= MAX_PAYLOAD_BYTES) budget.spendBytes(layer.size, `${tag} layer ${layer.digest}`);
      const payload = await client.getBlob(repository, layer, MAX_PAYLOAD_BYTES);
      budget.spendSignature(payload.length, `${tag} layer ${layer.digest}`);
      if (!verify("sha256", payload, publicKey, Buffer.from(sig, "base64")))
        throw new Error("its signature does not verify with the key");
      const doc = JSON.parse(payload.toString("utf8")) as {
        critical?: { image?: { "docker-manifest-digest"?: unknown }; type?: unknown };
      };
      const named = doc?.critical?.image?.["docker-manifest-digest"];
      if (named !== digest) throw new Error(`the signed payload names ${JSON.stringify(named)}, not ${digest}`);
      if (doc.critical?.type !== SIMPLE_SIGNING_TYPE)
        throw new Error(
          `the signed payload's type is ${JSON.stringify(doc.critical?.type)}, not ${JSON.stringify(SIMPLE_SIGNING_TYPE)}`,
        );
      return { manifest: fetched.digest, payload: doc };
    } catch (e) {
      if (e instanceof BudgetSpent) throw e;
      failures.push(`layer ${layer.digest}: ${registryText((e as Error).message)}`);
    }
  }
  return {
    failure: `${tag} (${fetched.digest}): ${failures.length ? failures.join("; ") : "no simple-signing layer"}`,
  };
}

/** cosign's config of a signature manifest: fixed fields, the layers' digests as diff_ids. */
function signatureConfig(layers: Descriptor[]): Buffer {
  const zero = "0001-01-01T00:00:00Z";
  return Buffer.from(
    JSON.stringify({
      architecture: "",
      created: zero,
      history: [{ created: zero }],
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
}

export async function attachLegacySignature(
  target: { registry: string; repository: string },
  digest: Digest,
  key: SigningKey,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void },
): Promise<{ tag: string; digest: Digest }> {
  return appendLegacyLayer(target, legacySignatureTag(digest), opts, (registry) => {
    const payload = simpleSigningPayload(`${registry}/${target.repository}`, digest);
    return {
      payload,
      mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
      annotations: { [SIGNATURE_ANNOTATION]: sign("sha256", payload, key.privateKey).toString("base64") },
    };
  });
}

export const DSSE_ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

/** The tag of an image's legacy attestations: `sha256:<hex>` → `sha256-<hex>.att`. */
export function legacyAttestationTag(digest: Digest): string {
  return `${digest.replace(":", "-")}.att`;
}

/**
 * cosign's legacy attestation form (`cosign attest --new-bundle-format=false`), which verifiers of key-signed images
 * such as sigstore policy-controller v0.13.1 read (its bundle support is for keyless authorities only): the tag
 * `sha256-<hex>.att` holds an image manifest whose layers are DSSE envelopes (the in-toto statement naming the
 * image's digest, signed with the key), each annotated with its predicate type and an empty cosign signature.
 */
export async function attachLegacyAttestation(
  target: { registry: string; repository: string },
  digest: Digest,
  key: SigningKey,
  predicateType: string,
  predicate: unknown,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void },
): Promise<{ tag: string; digest: Digest }> {
  const envelope = signEnvelope(statementFor(digest, predicateType, predicate), key.privateKey);
  return appendLegacyLayer(target, legacyAttestationTag(digest), opts, () => ({
    payload: Buffer.from(JSON.stringify(envelope)),
    mediaType: DSSE_ENVELOPE_MEDIA_TYPE,
    annotations: { [SIGNATURE_ANNOTATION]: "", predicateType },
  }));
}

/** Adds one layer to the manifest at `tag` (made when absent): what is already there stays. */
async function appendLegacyLayer(
  target: { registry: string; repository: string },
  tag: string,
  opts: { keychain?: Keychain; insecure?: boolean; log?: (line: string) => void },
  make: (registry: string) => { payload: Buffer; mediaType: string; annotations: Record<string, string> },
): Promise<{ tag: string; digest: Digest }> {
  const client = new RegistryClient(target.registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    log: opts.log,
    access: "push",
  });
  const { repository } = target;
  const { payload, mediaType, annotations } = make(client.registry);
  const layer: Descriptor = { mediaType, size: payload.length, digest: sha256(payload), annotations };
  let layers: Descriptor[] = [];
  try {
    const current = JSON.parse((await client.getManifest(repository, tag)).bytes.toString("utf8")) as unknown;
    layers = parseManifestDescriptors(current, `${client.registry}/${repository}:${tag}`)?.layers ?? [];
  } catch (e) {
    if (!(e instanceof RegistryError && e.code === "E_NOT_FOUND")) throw e;
  }
  layers = [...layers, layer];
  const config = signatureConfig(layers);
  const { uploadBlob } = await import("../registry/upload.js");
  for (const blob of [bufferBlob(payload, mediaType), bufferBlob(config, MediaType.OCI_CONFIG)]) {
    if (!(await client.blobExists(repository, blob.digest))) await uploadBlob(client, repository, blob);
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, size: config.length, digest: sha256(config) },
    layers,
  };
  const pushed = await client.putManifest(
    repository,
    tag,
    Buffer.from(JSON.stringify(manifest)),
    MediaType.OCI_MANIFEST,
  );
  return { tag, digest: pushed };
}
