/**
 * `runs/<id>/mounts.json`: the host paths a container bind-mounts (`{"mounts":[{"source","destination"}]}`),
 * written by the runner for every container (runc, podman, docker) so that `pipeline cache prune` knows what a
 * container whose runner was killed may still use (src/cache/prune.ts referencedPaths). It holds no env value;
 * runc's config.json, which does, is a FIFO no one else may open (config-fifo.ts).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BindMount } from "./runc-config";

export const MOUNTS_RECORD = "mounts.json";

export function writeMountsRecord(runDir: string, mounts: readonly BindMount[]): void {
  const record = { mounts: mounts.map((m) => ({ source: m.source, destination: m.destination })) };
  writeFileSync(join(runDir, MOUNTS_RECORD), JSON.stringify(record), { mode: 0o600 });
}
