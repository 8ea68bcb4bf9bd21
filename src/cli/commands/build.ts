/**
 * `pipeline build --lockfile DIR --output LAYOUT [--base oci:DIR|REF] [--entry FILE] [--cache-dir D]`: an image
 * from a package.json + lockfile project without Bazel (src/lockfile/build.ts). Prints the image digest.
 */
import { PipelineError } from "../../errors";
import { buildLockfileImage, type LockfileBuildResult } from "../../lockfile/build";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { CommandInput } from "../args";
import type { BUILD } from "../command-specs";

export type BuildArgs = CommandInput<typeof BUILD>;

/** --base relative to the command's working directory: `oci:DIR[:NAME]` and directories; registry references as given. */
function baseArg(base: string | undefined, cwd: string): string | undefined {
  if (!base) return undefined;
  if (base.startsWith("oci:")) return isAbsolute(base.slice(4)) ? base : `oci:${resolve(cwd, base.slice(4))}`;
  return !isAbsolute(base) && existsSync(resolve(cwd, base)) ? resolve(cwd, base) : base;
}

export async function build(a: BuildArgs, io: CliIo): Promise<{ exitCode: number; result: LockfileBuildResult }> {
  if (!a.lockfile)
    throw new PipelineError(
      "E_USAGE",
      "pipeline build needs --lockfile DIR (a directory with package.json and package-lock.json)",
      { exitCode: 2 },
    );
  if (!a.output)
    throw new PipelineError("E_USAGE", "pipeline build needs --output DIR (the OCI layout to write)", { exitCode: 2 });
  const result = await buildLockfileImage({
    projectDir: resolve(io.cwd, a.lockfile),
    output: resolve(io.cwd, a.output),
    base: baseArg(a.base, io.cwd),
    entry: a.entry,
    cacheDir: a["cache-dir"] ? resolve(io.cwd, a["cache-dir"]) : undefined,
    env: io.env,
    log: (line) => io.stderr(line),
    keychainFor: (registry) => keychainFor(a, registry, io),
    insecure: a.insecure,
    installScripts: { allow: a["allow-install-scripts"] ?? [], ignore: a["ignore-install-scripts"] ?? [] },
  });
  io.stderr(
    `image ${result.digest}: base ${result.base.describe}, node_modules ${result.nodeModules.digest}${result.nodeModules.cached ? " (cached)" : ""}, app ${result.code.digest} (${result.code.files} files)`,
  );
  io.stdout(result.digest);
  return { exitCode: 0, result };
}
