/**
 * The sha256 grammar of the runtime library's map code: a digest's hex (plans, results and store keys carry it
 * bare) and an image reference pinned by digest. The CLI's own grammar is src/oci/grammar.ts, which this library
 * cannot import (it ships in images on its own).
 *
 * Part of `@rules_pipeline/runtime`: no imports.
 */

/** A sha256 digest's hex: 64 lowercase hex digits, nothing else. */
export const SHA256_HEX_RE: RegExp = /^[0-9a-f]{64}$/;

/** An image reference that ends pinned by digest: `…@sha256:<64 hex>`. */
export const PINNED_IMAGE_RE: RegExp = /@sha256:[0-9a-f]{64}$/;
