/** `pipeline bazel-push --config CFG`: what `bazel run //pkg:NAME_push` runs. */
import { pushTarget, readLaunchConfig, runfile, runfilesDir } from "../../launch/config";
import { pushLayouts, PushMetadata, summary, writeMetadata } from "../../launch/push";
import { validateTag } from "../../oci/reference";
import { progressForTerminal, silentProgress } from "../../registry/progress";
import { AuthFlags, keychainFor } from "../auth-flags";
import { CliIo, showProgress } from "../io";

export const ENV_METADATA_OUT = "PIPELINE_METADATA_OUT";

export async function pushFromConfig(
  configPath: string,
  io: CliIo,
  overrides: { repository?: string; tags?: string[]; auth?: AuthFlags } = {},
): Promise<PushMetadata> {
  const cfg = readLaunchConfig(configPath);
  const dir = runfilesDir(io.env);
  const target = pushTarget(cfg, overrides.repository, io.env);
  const tags = [...cfg.tags, ...(overrides.tags ?? []).map((t) => validateTag(t, "--tag"))];
  const meta = await pushLayouts(
    cfg.images.map((i) => ({ name: i.name, layoutDir: runfile(dir, i.layout) })),
    target,
    [...new Set(tags)],
    {
      keychain: await keychainFor(overrides.auth ?? {}, target.registry, io),
      insecure: cfg.insecure,
      progress: showProgress(io) ? progressForTerminal(process.stderr, io.env) : silentProgress,
      log: io.debug,
    },
  );
  for (const img of Object.values(meta.images)) io.stderr(summary(img));
  return meta;
}

export async function bazelPush(a: { config: string; repository?: string; tag?: string[]; "metadata-out"?: string } & AuthFlags, io: CliIo): Promise<void> {
  const meta = await pushFromConfig(a.config, io, { repository: a.repository, tags: a.tag, auth: a });
  writeMetadata(a["metadata-out"] || io.env[ENV_METADATA_OUT], meta);
  io.stdout(meta.reference);
}
