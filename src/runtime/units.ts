/**
 * The one grammar of durations (`90s`, `30m`, `12h`, `7d`, `2w`) and sizes (`500MB`, `20GiB`, `1.5G`, bare bytes):
 * what `pipeline` flags take (src/units.ts turns a bad value into a usage error) and runMap's options inside an image.
 * Decimal prefixes are powers of 1000, binary ones (KiB, MiB, ...) of 1024; a bare letter (K, M, G, T) is binary, as
 * du and df read it.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration like `7d`; undefined for anything else. */
export function durationMs(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(s);
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]]) : undefined;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** Bytes of a size like `20GiB`; undefined for anything else. */
export function sizeBytes(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : undefined;
}
