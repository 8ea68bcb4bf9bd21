/**
 * `pipeline verify-image REF|oci:DIR[:NAME]`: checks an image against the image contract (docs/image-contract.md)
 * without running it. One line per requirement; exit 0 when every required one is met, 1 otherwise.
 */
import type { Image } from "../../oci/model";
import { type LayerLimits, limitsFromFlags } from "../../layer/limits";
import { readLayout } from "../../layout/read";
import { formatReference, parseReference } from "../../oci/reference";
import { pullImage } from "../../registry/pull";
import { formatResult } from "../../image-contract/contract";
import { verifyImage, type VerifyReport } from "../../image-contract/verify-image";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import { hostPlatform, parsePlatform } from "../../oci/platform";
import type { CommandInput } from "../args";
import type { VERIFY_IMAGE } from "../command-specs";

export type VerifyImageArgs = CommandInput<typeof VERIFY_IMAGE>;

async function openImage(a: VerifyImageArgs, io: CliIo, limits: LayerLimits): Promise<{ image: Image; name: string }> {
  const platform = a.platform ? parsePlatform(a.platform, "--platform") : hostPlatform();
  if (a.reference.startsWith("oci:")) {
    const m = /^oci:(.*?)(?::([^/:]+))?$/.exec(a.reference)!;
    // A shallow base's layers (src/layout/remote.ts) stream from where the layout says.
    const { RemoteLayers } = await import("../../transfer/remote-blobs.js");
    const remote = new RemoteLayers({ keychain: await keychainFor(a, "", io), insecure: a.insecure });
    return { image: remote.image(readLayout(m[1], { refName: m[2], platform })), name: a.reference };
  }
  const ref = parseReference(a.reference, "reference");
  const image = await pullImage(ref, {
    keychain: await keychainFor(a, ref.registry, io),
    insecure: a.insecure,
    platform,
    limits,
  });
  return { image, name: formatReference(ref) };
}

export async function verifyImageCommand(
  a: VerifyImageArgs,
  io: CliIo,
): Promise<{ exitCode: number; report: VerifyReport }> {
  const limits = limitsFromFlags(a, io.env);
  const { image, name } = await openImage(a, io, limits);
  const report = await verifyImage(image, name, limits);
  if (a.json) {
    io.stdout(JSON.stringify({ reference: name, ...report }, null, 2));
  } else {
    io.stdout(`${name} (${report.digest}, ${report.platform}, ${report.files} paths)`);
    for (const r of report.results) io.stdout(formatResult(r));
    const missed = report.results.filter((r) => r.status === "miss").length;
    const warned = report.results.filter((r) => r.status === "warn").length;
    io.stdout(
      report.ok
        ? `image contract: met${warned ? ` (${warned} warning${warned > 1 ? "s" : ""})` : ""}`
        : `image contract: ${missed} requirement${missed > 1 ? "s" : ""} missed`,
    );
  }
  return { exitCode: report.ok ? 0 : 1, report };
}
