/**
 * The units `pipeline cache prune` takes and `cache du` prints: durations (`90s`, `30m`, `12h`, `7d`, `2w`) and
 * sizes (`500MB`, `20GiB`, `1.5G`, bare bytes). Decimal prefixes are powers of 1000, binary ones (KiB, MiB, ...)
 * of 1024; a bare letter (K, M, G, T) is binary, as du and df read it (the grammar: src/runtime/units.ts). Bad values
 * are usage errors that quote them.
 */
import { PipelineError } from "./errors";
import { durationMs, sizeBytes } from "./runtime/units";

/** Milliseconds of a duration like `7d` (src/runtime/units.ts). */
export function parseDuration(s: string, flag: string): number {
  const ms = durationMs(s);
  if (ms === undefined)
    throw new PipelineError(
      "E_USAGE",
      `${flag}: expected a duration like 90s, 30m, 12h, 7d or 2w, got ${JSON.stringify(s)}`,
      { exitCode: 2 },
    );
  return ms;
}

/** Bytes of a size like `20GiB` (src/runtime/units.ts). */
export function parseSize(s: string, flag: string): number {
  const bytes = sizeBytes(s);
  if (bytes === undefined) {
    throw new PipelineError(
      "E_USAGE",
      `${flag}: expected a size like 500MB, 20GiB or 1048576 (bytes), got ${JSON.stringify(s)}`,
      { exitCode: 2 },
    );
  }
  return bytes;
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
