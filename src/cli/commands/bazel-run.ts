/**
 * `pipeline bazel-run --config CFG -- ARGS`: what `bazel run //pkg:NAME` runs. Pushes the images (unless
 * $PIPELINE_CONTAINER_IMAGE is already set), then runs the launch script with the pushed references in its
 * environment, passing ARGS, signals and the exit code through.
 */
import { spawn } from "node:child_process";
import { PipelineError } from "../../errors";
import { forwardTermination, signalExitCode } from "../../process/signals";
import { readLaunchConfig } from "../../launch/config";
import { launchEnvironment, userImages } from "../../launch/env";
import { runfile, runfilesDir } from "../../launch/runfiles";
import { uriMap } from "../../transfer/push";
import type { CliIo } from "../io";
import { pushFromConfig } from "./bazel-push";
import type { CommandArgs } from "../args";
import type { BAZEL_RUN } from "../command-specs";

export async function bazelRun(a: CommandArgs<typeof BAZEL_RUN>, io: CliIo): Promise<{ exitCode: number }> {
  const cfg = readLaunchConfig(a.config);
  if (!cfg.entry) throw new PipelineError("E_LAUNCH_CONFIG", `${a.config}: no entry point (rebuild the target)`);
  const dir = runfilesDir(io.env);
  let uris = userImages(io.env);
  if (uris) {
    io.stderr(`image ${uris.default ?? Object.values(uris)[0]}: taken from the environment (nothing pushed)`);
  } else {
    uris = uriMap(await pushFromConfig(a.config, io));
  }
  const args = [...(a["--"] ?? []), ...(a._ ?? []).slice(1)].map(String);
  // Pushed: no layouts, runInContainer() pulls the references. The environment is complete here; the preload only makes
  // require follow rules_js's package links (src/preload/package-links.ts; its environment part is `_local`'s and
  // `_binary`'s).
  const env = launchEnvironment(io.env, cfg.env ?? {}, { uris });
  const preload = cfg.preload ? ["--require", runfile(dir, cfg.preload)] : [];
  const child = spawn(
    process.execPath,
    ["--preserve-symlinks", "--preserve-symlinks-main", ...preload, runfile(dir, cfg.entry), ...args],
    {
      cwd: runfile(dir, cfg.workspace),
      env,
      stdio: "inherit",
    },
  );
  const stopForwarding = forwardTermination(child);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on("error", (e) => reject(new PipelineError("E_LAUNCH", `cannot start the launch script: ${e.message}`)));
      child.on("exit", (c, signal) => resolve(c ?? signalExitCode(signal)));
    });
    return { exitCode: code };
  } finally {
    stopForwarding();
  }
}
