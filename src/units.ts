/**
 * The units `pipeline cache prune` takes and `cache du` prints: durations (`90s`, `30m`, `12h`, `7d`, `2w`) and
 * sizes (`500MB`, `20GiB`, `1.5G`, bare bytes). Decimal prefixes are powers of 1000, binary ones (KiB, MiB, ...)
 * of 1024; a bare letter (K, M, G, T) is binary, as du and df read it. Bad values are usage errors that quote them.
 */
import { PipelineError } from "./errors";

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration like `7d`. */
export function parseDuration(s: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(s);
  if (!m)
    throw new PipelineError(
      "E_USAGE",
      `${flag}: expected a duration like 90s, 30m, 12h, 7d or 2w, got ${JSON.stringify(s)}`,
      { exitCode: 2 },
    );
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]);
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

/** Bytes of a size like `20GiB`. */
export function parseSize(s: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(s);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new PipelineError(
      "E_USAGE",
      `${flag}: expected a size like 500MB, 20GiB or 1048576 (bytes), got ${JSON.stringify(s)}`,
      { exitCode: 2 },
    );
  }
  return Math.floor(Number(m[1]) * unit);
}

/** `1.5 GiB`, `12 KiB`, `300 B`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
