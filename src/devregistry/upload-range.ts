/**
 * The byte ranges of the upload API: parsing a chunk's Content-Range (lenient about the forms clients
 * send) and writing the Range header that says how much an upload holds.
 */

/**
 * Parses a chunk's Content-Range, `start-end` inclusive as the spec writes it; a `bytes ` or `bytes=`
 * prefix and a `/total` suffix (what some clients send) are tolerated. Returns undefined when unparseable.
 */
export function parseContentRange(value: string): { start: number; end: number } | undefined {
  const m = /^(?:bytes[ =])?\s*(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

/** The `Range` header of an upload holding `size` bytes, as the reference registry writes it. */
export function uploadRange(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}
