/**
 * The host folders a deployment may name (a ServerAvailableFolder's codePaths): the rule is
 * deploy/path-checks.ts' hostFolderProblem; this module does its I/O. Allowed roots are the spec's directory
 * (`baseDir`), the `--allow-host-path` flags and `$PIPELINE_ALLOW_HOST_PATHS` (absolute paths separated by ':'),
 * each taken as its real path. A code path is judged, and then mounted, as its real path: a symbolic link
 * inside the spec's directory that leads to `/etc` is `/etc`.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { hostFolderProblem } from "../deploy/path-checks";
import { PipelineError } from "../errors";

export const ALLOW_HOST_PATHS_ENV = "PIPELINE_ALLOW_HOST_PATHS";

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The allowed roots (real paths; roots that do not exist allow nothing). */
export function allowedHostRoots(
  baseDir: string | undefined,
  flags: readonly string[],
  env: NodeJS.ProcessEnv,
): string[] {
  const fromEnv = (env[ALLOW_HOST_PATHS_ENV] ?? "").split(":").filter(Boolean);
  for (const p of fromEnv) {
    if (!isAbsolute(p))
      throw new PipelineError(
        "E_USAGE",
        `$${ALLOW_HOST_PATHS_ENV}: expected absolute paths separated by ':', got ${JSON.stringify(p)}`,
        {
          exitCode: 2,
        },
      );
  }
  const all = [...(baseDir ? [baseDir] : []), ...flags.map((f) => resolve(f)), ...fromEnv];
  return all.map(real).filter((p): p is string => p !== undefined);
}

/** The real path of host folder `path` (named `field` in errors), or E_HOST_PATH when the rule refuses it. */
export function checkedHostFolder(path: string, field: string, allowed: readonly string[]): string {
  const r = real(path);
  if (r === undefined)
    throw new PipelineError("E_BAD_MOUNT", `${field}: host path ${JSON.stringify(path)} does not exist`);
  const problem = hostFolderProblem(r, allowed);
  if (problem)
    throw new PipelineError(
      "E_HOST_PATH",
      `${field}: host path ${JSON.stringify(path)}${r !== path ? ` (really ${JSON.stringify(r)})` : ""} ${problem}`,
    );
  return r;
}
