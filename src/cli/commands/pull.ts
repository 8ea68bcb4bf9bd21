/** `pipeline pull REF --output DIR`: an image (pinned or tagged) into an OCI layout. */
import { PipelineError } from "../../errors";
import { recordLayoutSource } from "../../layout/source";
import { formatReference, parseReference } from "../../oci/reference";
import { pullToLayout } from "../../registry/pull";
import { progressForTerminal, silentProgress } from "../../registry/progress";
import { AuthFlags, keychainFor } from "../auth-flags";
import { CliIo, showProgress } from "../io";

export function parsePlatform(s: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = s.split("/");
  if (!os || !architecture) throw new PipelineError("E_BAD_INPUT", `--platform: expected os/arch[/variant], got ${JSON.stringify(s)}`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

export async function pull(
  a: { reference: string; output: string; platform: string; "source-annotation": boolean; insecure: boolean } & AuthFlags,
  io: CliIo,
): Promise<void> {
  const ref = parseReference(a.reference, "reference");
  const result = await pullToLayout(ref, a.output, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    platform: parsePlatform(a.platform),
    progress: showProgress(io) ? progressForTerminal(process.stderr, io.env) : silentProgress,
  });
  if (a["source-annotation"]) recordLayoutSource(a.output, formatReference({ ...ref, tag: undefined, digest: result.digest }));
  io.stdout(`${formatReference({ ...ref, tag: undefined, digest: result.digest })}`);
}
