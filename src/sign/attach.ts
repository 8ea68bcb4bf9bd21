/**
 * Signing a pushed image the way cosign 3 does by default: an in-toto statement (predicate
 * https://sigstore.dev/cosign/sign/v1) naming the image's manifest digest, DSSE-signed with the key, in a Sigstore
 * bundle v0.3 attached as an OCI 1.1 referrer (src/registry/artifact.ts). The same path attaches DSSE attestations
 * (other predicate types). Nothing time-dependent goes in: signing one digest with one key gives the same bundle
 * bytes only if ECDSA's nonce repeats, which it does not, so each signing adds one referrer.
 */
import type { Descriptor } from "../oci/types";
import { attachArtifact, type AttachOptions, type AttachResult } from "../registry/artifact";
import { BUNDLE_MEDIA_TYPE, bundleAnnotations, COSIGN_SIGN_PREDICATE, makeBundle } from "./bundle";
import { keyHint, type SigningKey } from "./cosign-key";
import { signEnvelope, statementFor } from "./dsse";

/** Signs `statement(subject)` with `key` and attaches the bundle to `subject` in `target`. */
export async function attachSignedStatement(
  target: { registry: string; repository: string },
  subject: Descriptor,
  key: SigningKey,
  predicateType: string,
  predicate: unknown,
  opts: AttachOptions = {},
): Promise<AttachResult> {
  const envelope = signEnvelope(statementFor(subject.digest, predicateType, predicate), key.privateKey);
  const bundle = Buffer.from(JSON.stringify(makeBundle(envelope, keyHint(key.publicKey))));
  return attachArtifact(
    target,
    subject,
    { artifactType: BUNDLE_MEDIA_TYPE, bytes: bundle, annotations: bundleAnnotations(predicateType) },
    opts,
  );
}

/** cosign 3's image signature. */
export function signImage(
  target: { registry: string; repository: string },
  subject: Descriptor,
  key: SigningKey,
  opts: AttachOptions = {},
): Promise<AttachResult> {
  return attachSignedStatement(target, subject, key, COSIGN_SIGN_PREDICATE, {}, opts);
}
