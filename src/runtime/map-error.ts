/**
 * A map's failure raised by the runtime library's map code (the code that runs inside images: the schedule, the
 * threads, runMap inside a pod). Its code is one of the error catalogue's (src/error-codes/run.ts); `pipeline map`
 * turns it into its own error with the same code and message (src/map/schedule.ts, src/cli/commands/map.ts), runMap
 * into a MapError.
 *
 * Part of `@rules_pipeline/runtime`: Node built-ins only.
 */
export type MapRunErrorCode =
  | "E_ABORTED"
  | "E_BAD_OPTION"
  | "E_K8S_API"
  | "E_MAP_ITEM"
  | "E_MAP_STORE"
  | "E_MAP_TARGET"
  | "E_MAP_TASK"
  | "E_MAP_TASK_NOT_FOUND";

export class MapRunError extends Error {
  readonly code: MapRunErrorCode;
  constructor(code: MapRunErrorCode, message: string) {
    super(message);
    this.name = "MapRunError";
    this.code = code;
  }
}
