/**
 * `pipeline pull REF --output DIR [--json]`: an image (pinned or tagged) into an OCI layout. From an index, the
 * platform `--platform` names (default this machine's); `--all-platforms` or `--platforms a,b` keep the index
 * (whole, or those platforms) and the layout's index.json names it. Prints the pinned reference, or with --json one
 * JSON object: reference, digest, bytes and blobs (config and layers of every platform), output, platforms.
 */
import type { Digest } from "../../oci/digest";
import { PipelineError } from "../../errors";
import { imageSize } from "../../transfer/push";
import { layoutImages, readLayout, readLayoutContent } from "../../layout/read";
import { recordLayoutSource } from "../../layout/source";
import { hostPlatform, parsePlatform, parsePlatformList } from "../../oci/platform";
import { formatReference, parseReference } from "../../oci/reference";
import { pullToLayout } from "../../transfer/pull";
import { progressFor } from "../../registry/progress";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { PULL } from "../command-specs";

export async function pull(a: CommandArgs<typeof PULL>, io: CliIo): Promise<void> {
  const ref = parseReference(a.reference, "reference");
  const several = a["all-platforms"] || (a.platforms?.length ?? 0) > 0;
  const given = [
    a.platform && "--platform",
    a["all-platforms"] && "--all-platforms",
    a.platforms?.length && "--platforms",
  ].filter(Boolean);
  if (given.length > 1)
    throw new PipelineError(
      "E_USAGE",
      `pull: give one of --platform, --platforms and --all-platforms, got ${given.join(" and ")}`,
      { exitCode: 2 },
    );
  // The free-space reserve of the cache (1 GiB by default) holds only when $PIPELINE_MIN_FREE_SPACE asks for one:
  // the layout goes where the user said, and must fit. The transfer rate (--min-transfer-rate) holds for every blob.
  const { resolveLimits } = await import("../../layer/limits.js");
  const flags = {
    minFreeSpace: io.env.PIPELINE_MIN_FREE_SPACE ? undefined : 0,
    minTransferRate: a["min-transfer-rate"],
  };
  const limits = resolveLimits(flags, io.env);
  const opts = {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    progress: progressFor(io),
    log: io.debug,
    limits,
    shallow: a.shallow,
  };
  let digest: Digest;
  let platforms: string[];
  if (several) {
    const { pullIndexToLayout } = await import("../../transfer/pull.js");
    const r = await pullIndexToLayout(
      ref,
      a.output,
      a["all-platforms"] ? "all" : parsePlatformList(a.platforms, "--platforms"),
      opts,
    );
    digest = r.digest;
    platforms = r.platforms;
  } else {
    const platform = a.platform ? parsePlatform(a.platform, "--platform") : hostPlatform();
    digest = (await pullToLayout(ref, a.output, { ...opts, platform })).digest;
    const c = readLayout(a.output, { refName: ref.tag, platform }).config;
    platforms = [`${c.os}/${c.architecture}${c.variant ? `/${c.variant}` : ""}`];
  }
  const reference = formatReference({ ...ref, tag: undefined, digest });
  if (a["source-annotation"]) recordLayoutSource(a.output, reference);
  if (several) io.stderr(`index ${reference}: pulled ${platforms.length} platform(s) (${platforms.join(", ")})`);
  if (a.json) {
    const sizes = layoutImages(readLayoutContent(a.output, { refName: ref.tag })).map((i) => imageSize(i.manifest));
    const blobs = sizes.reduce((n, s) => n + s.blobs, 0);
    const bytes = sizes.reduce((n, s) => n + s.bytes, 0);
    io.stdout(JSON.stringify({ reference, digest, bytes, blobs, output: a.output, platforms }));
  } else io.stdout(reference);
}
