/**
 * Runfiles paths (`<repository>/<path>`, as the launch config and the launchers write them) made absolute, the same
 * way the bash launchers do it (bazel/private/common/tools.bzl, `rl`): when the runfiles tree has a `_repo_mapping` file
 * (Bazel 7+: lines `source_canonical,target_apparent,target_canonical`), the repository is looked up there by its
 * apparent name, the main repository's mapping (empty source) first; without one, or for a name it does not list,
 * the path is taken as it is (Bazel 4-6, or a name that is already canonical).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineError } from "../errors";

/** The runfiles root of the running launcher. */
export function runfilesDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.PIPELINE_RUNFILES_DIR || env.RUNFILES_DIR;
  if (!dir)
    throw new PipelineError(
      "E_RUNFILES",
      "PIPELINE_RUNFILES_DIR is not set: run this target with `bazel run` or its launcher",
    );
  return dir;
}

const mappings = new Map<string, Map<string, string>>();

/** apparent name → canonical name from `<dir>/_repo_mapping` (empty when there is none). */
export function repoMapping(dir: string): Map<string, string> {
  const cached = mappings.get(dir);
  if (cached) return cached;
  const out = new Map<string, string>();
  const file = join(dir, "_repo_mapping");
  if (existsSync(file)) {
    const fromOthers = new Map<string, string>();
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const fields = line.split(",");
      if (fields.length !== 3 || !fields[1] || !fields[2]) continue;
      const [source, apparent, canonical] = fields;
      if (source === "") {
        if (!out.has(apparent)) out.set(apparent, canonical);
      } else if (!fromOthers.has(apparent)) {
        fromOthers.set(apparent, canonical);
      }
    }
    for (const [apparent, canonical] of fromOthers) if (!out.has(apparent)) out.set(apparent, canonical);
  }
  mappings.set(dir, out);
  return out;
}

/** Resolves a runfiles-relative path (`<repository>/<path>`, or a bare repository name). */
export function runfile(dir: string, rel: string): string {
  const slash = rel.indexOf("/");
  const repo = slash < 0 ? rel : rel.slice(0, slash);
  const rest = slash < 0 ? "" : rel.slice(slash + 1);
  const canonical = repoMapping(dir).get(repo) ?? repo;
  return rest ? join(dir, canonical, rest) : join(dir, canonical);
}

/**
 * The name of a repository in the app tree (`/app/external/<name>` in the image, `external/<name>` in `_local`'s
 * runfiles): the same under every Bazel version. Mirrors `stable_repo_name` in bazel/private/common/app_layout.bzl.
 * - a WORKSPACE repository (no `~` or `+`): its name;
 * - a module's repository (`foo~1.2.3` in Bazel 6, `foo~` in 7, `foo+` in 8): the module name, `foo`;
 * - a module extension's repository (`foo~1.2.3~ext~bar`, `foo~~ext~bar`, `foo++ext+bar`): its last part, `bar`.
 */
export function stableRepoName(canonical: string): string {
  for (const sep of ["+", "~"]) {
    if (!canonical.includes(sep)) continue;
    const parts = canonical.split(sep);
    return parts.length <= 2 ? parts[0] : parts[parts.length - 1];
  }
  return canonical;
}
