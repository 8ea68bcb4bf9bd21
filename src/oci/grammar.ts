/**
 * The one definition of the OCI grammars that every module checks values against:
 *
 *   sha256 digest     `sha256:` + 64 lowercase hex: the only algorithm this project computes or stores
 *   any digest        the distribution spec's `algorithm:encoded`, to tell "unsupported algorithm" from "malformed"
 *   tag               `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
 *   repository        lowercase components joined by `/`; separators `.`, `_`, `__` or runs of `-`
 *   media type        RFC 6838 section 4.2 `type/subtype` restricted names, as the image spec's JSON schema writes
 *                     it: no parameters, no whitespace, no control characters (a media type goes into a header)
 *
 * Patterns, their text for messages, and predicates only: no errors and no I/O, so the dev registry, the
 * deployment model and the layout reader can all import it without importing each other.
 */

/** For messages: what a sha256 digest looks like. */
export const SHA256_DIGEST_GRAMMAR = "sha256:<64 lowercase hex>";
/** The hex part of a sha256 digest, as a pattern to build others from (`blobs/sha256/<hex>`, `@sha256:<hex>`). */
export const SHA256_HEX = "[a-f0-9]{64}";
export const SHA256_DIGEST_RE = new RegExp(`^sha256:${SHA256_HEX}$`);
/** What ends a reference pinned by digest: `@sha256:<64 hex>` (group 1: the digest). */
export const PINNED_RE = new RegExp(`@(sha256:${SHA256_HEX})$`);
/** A git commit id in full (SHA-1 or SHA-256 object format), not an OCI digest but a sibling grammar. */
export const COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** A digest's algorithm (distribution spec), e.g. to spot `@algorithm:` in text. */
export const DIGEST_ALGORITHM_GRAMMAR = "[a-z0-9]+(?:[.+_-][a-z0-9]+)*";
/** Any well-formed digest, whatever the algorithm (distribution spec). */
export const ANY_DIGEST_RE = new RegExp(`^${DIGEST_ALGORITHM_GRAMMAR}:[a-zA-Z0-9=_-]+$`);

/** For messages: the tag grammar. */
export const TAG_GRAMMAR = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
export const TAG_RE = new RegExp(`^${TAG_GRAMMAR}$`);

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
/** One path component of a repository name. */
export const REPOSITORY_COMPONENT_RE = new RegExp(`^${COMPONENT}$`);
/** A whole repository name (`team/app`), the distribution spec's `<name>`. */
export const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

const RESTRICTED_NAME = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}";
/** For messages: the media type grammar. */
export const MEDIA_TYPE_GRAMMAR = `a media type "type/subtype" (RFC 6838: each part ${RESTRICTED_NAME})`;
export const MEDIA_TYPE_RE = new RegExp(`^${RESTRICTED_NAME}/${RESTRICTED_NAME}$`);

export function isAnyDigest(s: unknown): boolean {
  return typeof s === "string" && ANY_DIGEST_RE.test(s);
}

export function isTag(s: unknown): boolean {
  return typeof s === "string" && TAG_RE.test(s);
}

export function isRepository(s: unknown): boolean {
  return typeof s === "string" && REPOSITORY_RE.test(s);
}

export function isMediaType(s: unknown): boolean {
  return typeof s === "string" && MEDIA_TYPE_RE.test(s);
}
