/**
 * The push daemons a bench run leaves (src/cli/push-daemon/): the runs' first `bazel run //x:etl_push` of each output base
 * starts one, on the host and in scripts/bazel7.sh's chroot (whose cache root is the chroot's /root/.cache), and the
 * later pushes of the rows are served by it, as a user's are. The run stops the ones it started, none other.
 */
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { cacheRoot } from "../../src/cache/layout";
import { pidAlive } from "../../src/process/owner";
import { readState } from "../../src/cli/push-daemon/protocol";

/** Where the run's daemons keep their state: the host's cache root and the Bazel 7 chroot's. */
function stateDirs(): string[] {
  const bazel7 = process.env.PIPELINE_BAZEL7_ROOT || join(homedir(), ".cache", "rules_pipeline", "bazel7");
  return [
    join(cacheRoot(process.env), "push-daemon"),
    join(bazel7, "chroot", "root", ".cache", "rules_pipeline", "push-daemon"),
  ];
}

/** The pids of the daemons running now. */
export function runningPushDaemons(): Set<number> {
  const pids = new Set<number>();
  for (const dir of stateDirs()) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      if (f.includes(".")) continue;
      const s = readState(join(dir, f));
      if (s && pidAlive(s.pid)) pids.add(s.pid);
    }
  }
  return pids;
}

/** Stops the daemons running now that were not in `before`; returns how many. */
export function stopPushDaemons(before: Set<number>): number {
  let n = 0;
  for (const pid of runningPushDaemons()) {
    if (before.has(pid)) continue;
    try {
      process.kill(pid, "SIGTERM");
      n++;
    } catch {
      // ended meanwhile
    }
  }
  return n;
}
