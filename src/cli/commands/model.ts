/**
 * `pipeline model push DIR REF [--tag T]...` and `pipeline model pull REF --output DIR [--force]`: model
 * directories as OCI artifacts (src/weights), with the same credentials and progress as image push/pull.
 */
import { PipelineError } from "../../errors";
import { formatReference, parseReference, validateTag } from "../../oci/reference";
import { parsePlatform } from "../../oci/platform";
import { progressFor } from "../../registry/progress";
import { limitsFromFlags } from "../../layer/limits";
import { pullModel } from "../../weights/pull";
import { pushModel } from "../../weights/push";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandInput } from "../args";
import type { MODEL_PULL, MODEL_PUSH } from "../command-specs";

function progressOf(io: CliIo) {
  return progressFor(io);
}

/** Pushes DIR to REF (HOST/REPO[:TAG]); prints `HOST/REPO@sha256:...` on stdout. */
export async function modelPush(a: CommandInput<typeof MODEL_PUSH>, io: CliIo): Promise<void> {
  const ref = parseReference(a.reference, "model push: reference");
  if (ref.digest)
    throw new PipelineError(
      "E_USAGE",
      `model push: reference ${JSON.stringify(a.reference)} has a digest; give HOST/REPOSITORY[:TAG]`,
      {
        exitCode: 2,
      },
    );
  const tags = (a.tag ?? []).map((t) => validateTag(t, "--tag"));
  const result = await pushModel(a.dir, ref, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    progress: progressOf(io),
    tags,
    ...(a.platform ? { platform: parsePlatform(a.platform, "--platform") } : {}),
  });
  io.stdout(result.reference);
}

/** Pulls REF into --output; prints `HOST/REPO@sha256:...` on stdout. */
export async function modelPull(a: CommandInput<typeof MODEL_PULL>, io: CliIo): Promise<void> {
  const ref = parseReference(a.reference, "model pull: reference");
  const limits = limitsFromFlags(a, io.env);
  if (!a.output) throw new PipelineError("E_USAGE", "model pull: --output DIR is required", { exitCode: 2 });
  const result = await pullModel(ref, a.output, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    progress: progressOf(io),
    replace: a.force ?? false,
    limits,
  });
  io.stdout(formatReference({ ...ref, tag: undefined, digest: result.digest }));
}
