/**
 * Reading a JSON file given as input (a flag's file, a lockfile, a package.json): bad input is E_BAD_INPUT naming
 * what the file is, its path and what is wrong with it, never a bare SyntaxError.
 */
import { readFileSync } from "node:fs";
import { PipelineError } from "./errors";

/**
 * The parsed contents of `path`. `what` names the file in messages (a flag such as `--config`, or "npm lockfile");
 * with `object`, anything but a JSON object is refused too.
 */
export function readJsonFile(path: string, what: string, opts: { object: true }): Record<string, unknown>;
export function readJsonFile(path: string, what: string, opts?: { object?: boolean }): unknown;
export function readJsonFile(path: string, what: string, opts: { object?: boolean } = {}): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new PipelineError(
      "E_BAD_INPUT",
      `${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (opts.object && (!v || typeof v !== "object" || Array.isArray(v))) throw new Error("not a JSON object");
    return v;
  } catch (e) {
    throw new PipelineError(
      "E_BAD_INPUT",
      `${what} ${path}: not ${opts.object ? "a valid JSON object" : "valid JSON"} (${(e as Error).message})`,
    );
  }
}
