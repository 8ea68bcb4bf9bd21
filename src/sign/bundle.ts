/**
 * Sigstore bundles v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`) as cosign 3 stores a key-based signature:
 * `verificationMaterial.publicKey.hint` (src/sign/cosign-key.ts keyHint) and a DSSE envelope; no certificate, no
 * transparency-log entry (verifiers are told `--insecure-ignore-tlog`).
 */
import { PipelineError } from "../errors";
import { registryText } from "../registry/registry-text";
import type { Envelope } from "./dsse";

export const BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** The predicate type of a cosign 3 image signature: the statement says only "this digest is signed". */
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";

export interface Bundle {
  mediaType: string;
  verificationMaterial: { publicKey?: { hint: string }; tlogEntries?: unknown[] };
  dsseEnvelope?: Envelope;
}

export function makeBundle(envelope: Envelope, hint: string): Bundle {
  return { mediaType: BUNDLE_MEDIA_TYPE, verificationMaterial: { publicKey: { hint } }, dsseEnvelope: envelope };
}

/** The manifest annotations cosign 3 puts on a bundle referrer (and reads when choosing one). */
export function bundleAnnotations(predicateType: string): Record<string, string> {
  return { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": predicateType };
}

export function parseBundle(bytes: Buffer, where: string): Bundle {
  let doc: Bundle;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Bundle;
  } catch (e) {
    throw new PipelineError("E_SIGNATURE", `${where}: not JSON (${registryText((e as Error).message)})`);
  }
  if (typeof doc?.mediaType !== "string" || !doc.mediaType.startsWith("application/vnd.dev.sigstore.bundle")) {
    throw new PipelineError(
      "E_SIGNATURE",
      `${where}: not a Sigstore bundle (mediaType ${JSON.stringify(doc?.mediaType)})`,
    );
  }
  return doc;
}
