/** `pipeline bazel-push --config CFG`: what `bazel run //pkg:NAME_push` runs. */
import { pushTarget, readLaunchConfig } from "../../launch/config";
import { runfile, runfilesDir } from "../../launch/runfiles";
import { pushLayouts, PushMetadata, summary, writeMetadata } from "../../launch/push";
import { validateTag } from "../../oci/reference";
import { parsePlatformList } from "../../oci/platform";
import { describeSkip, expand, readStatusFiles } from "../../stamp";
import { progressFor } from "../../registry/progress";
import { AuthFlags, keychainFor } from "../auth-flags";
import type { CliIo } from "../io";

export const ENV_METADATA_OUT = "PIPELINE_METADATA_OUT";

export async function pushFromConfig(
  configPath: string,
  io: CliIo,
  overrides: { repository?: string; tags?: string[]; auth?: AuthFlags; platforms?: string[] } = {},
): Promise<PushMetadata> {
  const cfg = readLaunchConfig(configPath);
  const dir = runfilesDir(io.env);
  const target = pushTarget(cfg, overrides.repository, io.env);
  // `{KEY}` in tags_to_push: expanded from the stamp; a tag with a key the stamp lacks (or any key, unstamped) is skipped.
  const stamp = cfg.stampFiles?.length ? readStatusFiles(cfg.stampFiles.map((f) => runfile(dir, f)), `${cfg.label}: stamp file`) : undefined;
  const stamped: string[] = [];
  for (const template of cfg.tags) {
    const e = expand(template, stamp);
    if (!e.ok) io.stderr(describeSkip("tag", { template, missing: e.missing }, stamp !== undefined));
    else stamped.push(validateTag(e.value, `${cfg.label}: tags_to_push entry ${JSON.stringify(template)}`));
  }
  const tags = [...stamped, ...(overrides.tags ?? []).map((t) => validateTag(t, "--tag"))];
  const meta = await pushLayouts(
    cfg.images.map((i) => ({ name: i.name, layoutDir: runfile(dir, i.layout), sbomFile: i.sbomFile ? runfile(dir, i.sbomFile) : undefined })),
    target,
    [...new Set(tags)],
    {
      keychain: await keychainFor(overrides.auth ?? {}, target.registry, io),
      insecure: cfg.insecure,
      progress: progressFor(io),
      log: io.debug,
      platforms: parsePlatformList(overrides.platforms, "--platform"),
    },
  );
  for (const img of Object.values(meta.images)) io.stderr(summary(img));
  return meta;
}

export async function bazelPush(a: { config: string; repository?: string; tag?: string[]; platform?: string[]; "metadata-out"?: string } & AuthFlags, io: CliIo): Promise<void> {
  const meta = await pushFromConfig(a.config, io, { repository: a.repository, tags: a.tag, auth: a, platforms: a.platform });
  writeMetadata(a["metadata-out"] || io.env[ENV_METADATA_OUT], meta);
  io.stdout(meta.reference);
}
