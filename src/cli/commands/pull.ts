/**
 * `pipeline pull REF --output DIR [--json]`: an image (pinned or tagged) into an OCI layout. Prints the pinned
 * reference, or with --json one JSON object: reference, digest, bytes and blobs (config and layers), output.
 */
import { PipelineError } from "../../errors";
import { imageSize } from "../../launch/push";
import { readLayout } from "../../layout/read";
import { recordLayoutSource } from "../../layout/source";
import { formatReference, parseReference } from "../../oci/reference";
import { pullToLayout } from "../../registry/pull";
import { progressFor } from "../../registry/progress";
import { AuthFlags, keychainFor } from "../auth-flags";
import type { CliIo } from "../io";

export function parsePlatform(s: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = s.split("/");
  if (!os || !architecture) throw new PipelineError("E_BAD_INPUT", `--platform: expected os/arch[/variant], got ${JSON.stringify(s)}`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export async function pull(
  a: { reference: string; output: string; platform: string; "source-annotation": boolean; insecure: boolean; json?: boolean } & AuthFlags,
  io: CliIo,
): Promise<void> {
  const ref = parseReference(a.reference, "reference");
  const result = await pullToLayout(ref, a.output, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    platform: parsePlatform(a.platform),
    progress: progressFor(io),
    log: io.debug,
  });
  const reference = formatReference({ ...ref, tag: undefined, digest: result.digest });
  if (a["source-annotation"]) recordLayoutSource(a.output, reference);
  if (a.json) {
    const { blobs, bytes } = imageSize(readLayout(a.output, { refName: result.refName }).manifest);
    io.stdout(JSON.stringify({ reference, digest: result.digest, bytes, blobs, output: a.output }));
  } else io.stdout(reference);
}
