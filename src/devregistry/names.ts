/**
 * Checks of the names in request paths against the one OCI grammar (src/oci/grammar.ts), answered as the
 * spec's errors: repository names (NAME_INVALID) and digests (DIGEST_INVALID; only sha256 is stored here,
 * other well-formed algorithms are told apart from malformed values).
 */
import { type Digest, isDigest } from "../oci/digest";
import { isAnyDigest, REPOSITORY_RE, SHA256_DIGEST_GRAMMAR } from "../oci/grammar";
import { ErrorAnswer } from "./error-answer";

/** Clients cap `host[:port]/name` at 255 characters; this leaves room for a host. */
export const MAX_NAME_LENGTH = 200;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && REPOSITORY_RE.test(name);
}

export function validateName(name: string): string {
  if (!isValidName(name)) {
    throw new ErrorAnswer(400, "NAME_INVALID", `invalid repository name ${JSON.stringify(name)}`, { name });
  }
  return name;
}

/** Accepts sha256 digests; other well-formed algorithms are unsupported here. */
export function validateDigest(digest: string | null | undefined, what = "digest"): Digest {
  if (typeof digest === "string" && isDigest(digest)) return digest;
  const why = isAnyDigest(digest) ? "only sha256 digests are supported" : `expected ${SHA256_DIGEST_GRAMMAR}`;
  throw new ErrorAnswer(400, "DIGEST_INVALID", `invalid ${what} ${JSON.stringify(digest ?? "")}: ${why}`, {
    digest: digest ?? "",
  });
}
