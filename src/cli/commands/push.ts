/**
 * `pipeline push DIR --repository HOST/REPO [--tag T] [--json]`: push an OCI layout. Prints the pushed reference, or
 * with --json one JSON object: reference, digest, bytes and blobs (the image's config and layers), tags, and what
 * this push uploaded ({blobs, bytes}), found already present (skipped) or mounted.
 */
import { pushTarget } from "../../launch/config";
import { pushLayouts, summary, writeMetadata } from "../../launch/push";
import { progressFor } from "../../registry/progress";
import { validateTag } from "../../oci/reference";
import { AuthFlags, keychainFor } from "../auth-flags";
import type { CliIo } from "../io";

export function layoutDirOf(source: string): string {
  // oci:DIR[:NAME] as skopeo writes it; a plain path otherwise.
  if (source.startsWith("oci:")) return source.slice(4).replace(/:[^/]*$/, "");
  return source;
}

export async function push(
  a: { source: string; repository: string; tag?: string[]; "metadata-out"?: string; insecure: boolean; json?: boolean } & AuthFlags,
  io: CliIo,
): Promise<void> {
  const target = pushTarget({ registry: "", repository: "", label: "push" }, a.repository, {});
  const tags = (a.tag ?? []).map((t) => validateTag(t, "--tag"));
  const meta = await pushLayouts([{ name: "default", layoutDir: layoutDirOf(a.source) }], target, tags, {
    keychain: await keychainFor(a, target.registry, io),
    insecure: a.insecure,
    progress: progressFor(io),
    log: io.debug,
  });
  writeMetadata(a["metadata-out"], meta);
  io.stderr(summary(meta));
  if (a.json) {
    const { reference, digest, bytes, blobs, tags, uploaded, uploadedBytes, skipped, mounted } = meta;
    io.stdout(JSON.stringify({ reference, digest, bytes, blobs, tags, uploaded: { blobs: uploaded, bytes: uploadedBytes }, skipped, mounted }));
  } else io.stdout(meta.reference);
}
