/**
 * What verifying one image's signature may cost, whatever the registry serves (issue #41: bundles of ~22k junk
 * signatures once burned 5 minutes of CPU in one `verify`). Bounded by construction:
 *  - a DSSE envelope carrying more than MAX_ENVELOPE_SIGNATURES signatures is refused without checking any (cosign
 *    writes one; DSSE's multi-signer form rarely more than a few);
 *  - at most MAX_BUNDLES bundle referrers are read (src/sign/verify.ts), the newest first, and at most
 *    MAX_LEGACY_LAYERS legacy signatures (src/sign/legacy.ts);
 *  - one verification (`verifyStatement`) checks at most `signatures` signatures and reads and hashes at most `bytes`
 *    bytes in all (referrer manifests, bundles, payloads, and each signed message once per signature checked against
 *    it); past either, it stops with E_SIGNATURE saying which bound was reached.
 */
import { PipelineError } from "../errors";
import { formatBytes } from "../units";

/** Signatures one DSSE envelope may carry; more and the envelope is refused unchecked. */
export const MAX_ENVELOPE_SIGNATURES = 16;
/** Signatures one verification checks in all (bundles and legacy layers together). */
export const MAX_VERIFY_SIGNATURES = 128;
/** Bytes one verification reads and hashes in all. */
export const MAX_VERIFY_BYTES = 64 * 1024 * 1024;

/** The verification's budget is spent: stops it (never recorded as one candidate's failure). */
export class BudgetSpent extends PipelineError {}

export class VerifyBudget {
  signatures = 0;
  bytes = 0;

  constructor(
    /** `HOST/REPO@DIGEST`, to begin the error. */
    private readonly image: string,
    private readonly max = { signatures: MAX_VERIFY_SIGNATURES, bytes: MAX_VERIFY_BYTES },
  ) {}

  /** `bytes` more read or hashed for `where` (a bundle, a payload). */
  spendBytes(bytes: number, where: string): void {
    this.bytes += bytes;
    if (this.bytes > this.max.bytes) {
      throw new BudgetSpent(
        "E_SIGNATURE",
        `${this.image}: the signature does not verify: verification stopped at ${where}: reading and hashing the signatures looked at so far ` +
          `reached ${formatBytes(this.bytes)}, more than the ${formatBytes(this.max.bytes)} one verification spends (a registry serving oversized or endless signature material)`,
      );
    }
  }

  /** One signature checked over `signedBytes` bytes, for `where`. */
  spendSignature(signedBytes: number, where: string): void {
    if (++this.signatures > this.max.signatures) {
      throw new BudgetSpent(
        "E_SIGNATURE",
        `${this.image}: the signature does not verify: verification stopped at ${where}: more than ${this.max.signatures} signatures checked, ` +
          `the most one verification checks (a registry serving many junk signatures)`,
      );
    }
    this.spendBytes(signedBytes, where);
  }
}
