/**
 * `pipeline bazel-push --config CFG`: what `bazel run //pkg:NAME_push` runs (and `bazel run //pkg:NAME` before it
 * launches). The signing key: `-- --sign-key FILE`, else `$PIPELINE_SIGN_KEY`, else the `sign_key` attribute (a
 * source file the runfiles tree links to: no action reads it, so no output or cache holds it). Signing here also
 * attaches the signed SLSA provenance (the target, the tags, the lockfiles the image was built from). The password is
 * read now, never at build time: `--sign-password-file`, `$PIPELINE_SIGN_PASSWORD_FILE` or `$COSIGN_PASSWORD` (Bazel
 * logs `bazel run`'s environment in java.log, but shows variables named like *PASS* as `__private_value_removed__`).
 */
import { PipelineError } from "../../errors";
import { readLaunchConfig } from "../../launch/config";
import { pushTarget } from "../../transfer/target";
import { runfile, runfilesDir } from "../../launch/runfiles";
import { pushLayouts, type PushMetadata, summary, writeMetadata } from "../../transfer/push";
import { remoteCacheAt } from "../../transfer/layer-sources";
import { validateTag } from "../../oci/reference";
import { parsePlatformList } from "../../oci/platform";
import { describeSkip, expand, readStatusFiles } from "../../stamp";
import { progressFor } from "../../registry/progress";
import { transferRateOf } from "../../registry/transfer-rate";
import { resolveLimits } from "../../layer/limits";
import { startPushDaemon } from "../push-daemon/start";
import { type AuthFlags, keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { BAZEL_PUSH } from "../command-specs";

export const ENV_METADATA_OUT = "PIPELINE_METADATA_OUT";
export const ENV_SIGN_KEY = "PIPELINE_SIGN_KEY";

/** The signing flags (push and bazel-push declare the same ones); a caller may leave the switches out. */
export type SignFlags = Partial<
  Pick<CommandArgs<typeof BAZEL_PUSH>, "sign-key" | "sign-password-file" | "provenance" | "sign-legacy">
>;

export async function pushFromConfig(
  configPath: string,
  io: CliIo,
  overrides: { repository?: string; tags?: string[]; auth?: AuthFlags; platforms?: string[]; sign?: SignFlags } = {},
): Promise<PushMetadata> {
  const cfg = readLaunchConfig(configPath);
  const sign = overrides.sign ?? {};
  const dir = runfilesDir(io.env);
  const keyPath = sign["sign-key"] || io.env[ENV_SIGN_KEY] || (cfg.signKey ? runfile(dir, cfg.signKey) : undefined);
  if ((sign.provenance || sign["sign-legacy"]) && !keyPath) {
    throw new PipelineError(
      "E_USAGE",
      `${cfg.label}: --provenance and --sign-legacy need a key: --sign-key, $${ENV_SIGN_KEY} or the sign_key attribute`,
      { exitCode: 2 },
    );
  }
  const { readSigningKey, signingPassword } = await import("../../sign/cosign-key.js");
  // Opened before anything is pushed: a wrong password pushes nothing.
  const keyWhat = sign["sign-key"]
    ? "--sign-key (signing key)"
    : io.env[ENV_SIGN_KEY]
      ? `$${ENV_SIGN_KEY} (signing key)`
      : `${cfg.label}: sign_key (signing key)`;
  const signingKey = keyPath
    ? await readSigningKey(keyPath, await signingPassword(io.env, sign["sign-password-file"]), keyWhat)
    : undefined;
  const { lockfileDigests } = await import("../../sign/provenance.js");
  const lockfiles = signingKey
    ? await lockfileDigests((cfg.lockfiles ?? []).map((l) => ({ name: l.name, file: runfile(dir, l.path) })))
    : [];
  const target = pushTarget(cfg, overrides.repository, io.env);
  // `{KEY}` in tags_to_push: expanded from the stamp; a tag with a key the stamp lacks (or any key, unstamped) is skipped.
  const stamp = cfg.stampFiles?.length
    ? readStatusFiles(
        cfg.stampFiles.map((f) => runfile(dir, f)),
        `${cfg.label}: stamp file`,
      )
    : undefined;
  const stamped: string[] = [];
  for (const template of cfg.tags) {
    const e = expand(template, stamp);
    if (!e.ok) io.stderr(describeSkip("tag", { template, missing: e.missing }, stamp !== undefined));
    else stamped.push(validateTag(e.value, `${cfg.label}: tags_to_push entry ${JSON.stringify(template)}`));
  }
  const tags = [...stamped, ...(overrides.tags ?? []).map((t) => validateTag(t, "--tag"))];
  // One rule for every server the push reads (the registry, the Bazel cache): $PIPELINE_MIN_TRANSFER_RATE and its window.
  const transfer = transferRateOf(resolveLimits({}, io.env));
  const meta = await pushLayouts(
    cfg.images.map((i) => ({
      name: i.name,
      layoutDir: runfile(dir, i.layout),
      sbomFile: i.sbomFile ? runfile(dir, i.sbomFile) : undefined,
    })),
    target,
    [...new Set(tags)],
    {
      keychain: await keychainFor(overrides.auth ?? {}, target.registry, io),
      insecure: cfg.insecure,
      progress: progressFor(io),
      log: io.debug,
      platforms: parsePlatformList(overrides.platforms, "--platform"),
      signingKey,
      legacySignature: sign["sign-legacy"],
      transfer,
      buildCache: cfg.remoteCache
        ? remoteCacheAt(cfg.remoteCache, `${cfg.label}: --@rules_pipeline//bazel:remote_cache`, io.debug, transfer)
        : undefined,
      ...(signingKey
        ? { provenance: { invocation: { bazelTarget: cfg.label, tags: [...new Set(tags)] }, lockfiles } }
        : {}),
    },
  );
  for (const img of Object.values(meta.images)) io.stderr(summary(img));
  return meta;
}

export async function bazelPush(a: CommandArgs<typeof BAZEL_PUSH>, io: CliIo): Promise<void> {
  const meta = await pushFromConfig(a.config, io, {
    repository: a.repository,
    tags: a.tag,
    auth: a,
    platforms: a.platform,
    sign: a,
  });
  writeMetadata(a["metadata-out"] || io.env[ENV_METADATA_OUT], meta);
  io.stdout(meta.reference);
  // The next push of this output base goes through the daemon (src/cli/push-daemon/), unless one runs or this is it.
  startPushDaemon(io.env, io.debug);
}
