/** The arguments of `pipeline run` (run.ts) and its repeatable flags, apart so run-kubernetes.ts shares them without importing run.ts. */
import { resolve } from "node:path";
import { mountPathProblem } from "../../deploy/path-checks";
import { type CommandInput, usageError as usage } from "../args";
import type { RUN } from "../command-specs";

/** What `pipeline run` takes (both targets): a direct caller may leave out what has a default. */
export type RunArgs = CommandInput<typeof RUN>;

export function parseEnvFlags(values: readonly string[], hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    const name = eq < 0 ? v : v.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name))
      throw usage(`--env: expected NAME=VALUE or NAME, got ${JSON.stringify(v)}`);
    if (eq < 0) {
      const host = hostEnv[name];
      if (host === undefined) throw usage(`--env ${name}: not set in this environment (give --env ${name}=VALUE)`);
      out[name] = host;
    } else out[name] = v.slice(eq + 1);
  }
  return out;
}

export function parseMountFlags(
  values: readonly string[],
  cwd: string,
): { source: string; destination: string; readonly: boolean }[] {
  return values.map((v) => {
    const parts = v.split(":");
    let readonly = false;
    if (parts.length === 3 && (parts[2] === "ro" || parts[2] === "rw")) readonly = parts.pop() === "ro";
    if (parts.length !== 2 || !parts[0] || !parts[1])
      throw usage(`--mount: expected SRC:DST[:ro|:rw], got ${JSON.stringify(v)}`);
    const problem = mountPathProblem(parts[1]);
    if (problem) throw usage(`--mount ${v}: container path: ${problem} (got ${JSON.stringify(parts[1])})`);
    return { source: resolve(cwd, parts[0]), destination: parts[1], readonly };
  });
}
