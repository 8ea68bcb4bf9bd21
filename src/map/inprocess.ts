/**
 * The `inprocess` target of a map: the indexes run on this process's threads (src/runtime/map-threads.ts, what runMap
 * inside a pod runs too), `parallelism` at a time, under the local schedule's Indexed Job meaning. The fast target:
 * tests, `_local`, and a laptop's cores.
 */
import { checkTaskLoads, runInThreads } from "../runtime/map-threads";
import { asCliError } from "./schedule";
import type { MapRun, MapTarget, TargetFailure } from "./target";

export interface InProcessOptions {
  /** The task module's file on this machine. */
  file: string;
  /** Node options for the task's threads (runMap passes its own: `--preserve-symlinks`, the launchers' preload). */
  execArgv?: string[];
  /** Where the task's output goes (default: this process's stderr). */
  output?: (text: string) => void;
}

export function inProcessTarget(o: InProcessOptions): MapTarget {
  return {
    name: "inprocess",
    check: (run: MapRun) => asCliError(checkTaskLoads(o.file, run.plan.task.export, run.what, o.execArgv)),
    run: (run: MapRun): Promise<TargetFailure | undefined> =>
      asCliError(
        runInThreads({
          ...run,
          file: o.file,
          execArgv: o.execArgv,
          output: o.output,
          event: (e) => run.progress.item(e),
          retry: (index, attempt, message) => run.progress.retry(index, attempt, message),
          failed: (f) => run.progress.failed(f),
        }),
      ),
  };
}
