/**
 * `pipeline push DIR --repository HOST/REPO [--tag T] [--json]`: push an OCI layout. Prints the pushed reference, or
 * with --json one JSON object: reference, digest, bytes and blobs (the image's config and layers), tags, and what
 * this push uploaded ({blobs, bytes}), found already present (skipped) or mounted, and the platforms pushed, each
 * platform's manifest (multi-platform layouts) and the platforms dropped. A multi-platform layout (index.json naming
 * an image index) is pushed whole, index last, and the index digest reported; `--platform` keeps only those named
 * (a new index of them) and prints a line for each platform left out. `--sign-key cosign.key` signs what was pushed
 * (cosign 3's form: a Sigstore bundle referrer that `cosign verify --key cosign.pub --insecure-ignore-tlog` accepts);
 * `--provenance` adds a signed SLSA provenance v1 attestation (`cosign verify-attestation --type slsaprovenance1`).
 */
import { PipelineError } from "../../errors";
import { pushTarget } from "../../transfer/target";
import { type PushedImage, pushLayouts, summary, writeMetadata } from "../../transfer/push";
import { progressFor } from "../../registry/progress";
import { transferRateOf } from "../../registry/transfer-rate";
import { resolveLimits } from "../../layer/limits";
import { validateTag } from "../../oci/reference";
import { parsePlatformList } from "../../oci/platform";
import { resolve } from "node:path";
import { keychainFor } from "../auth-flags";
import type { CliIo } from "../io";
import type { CommandArgs } from "../args";
import type { PUSH } from "../command-specs";

async function openSigningKey(file: string, env: NodeJS.ProcessEnv, passwordFile: string | undefined) {
  const { readSigningKey, signingPassword } = await import("../../sign/cosign-key.js");
  return readSigningKey(file, await signingPassword(env, passwordFile), "--sign-key (signing key)");
}

export function layoutDirOf(source: string): string {
  // oci:DIR[:NAME] as skopeo writes it; a plain path otherwise.
  if (source.startsWith("oci:")) return source.slice(4).replace(/:[^/]*$/, "");
  return source;
}

/** What `--json` prints of the push's metadata, in this order. */
const JSON_FIELDS = [
  "reference",
  "digest",
  "bytes",
  "blobs",
  "tags",
  "uploaded",
  "skipped",
  "mounted",
  "platforms",
  "manifests",
  "dropped",
  "sbom",
  "signature",
  "legacySignature",
  "provenance",
] as const satisfies readonly (keyof PushedImage)[];

export async function push(a: CommandArgs<typeof PUSH>, io: CliIo): Promise<void> {
  const target = pushTarget({ registry: "", repository: "", label: "push" }, a.repository, {});
  const tags = (a.tag ?? []).map((t) => validateTag(t, "--tag"));
  if (a.provenance && !a["sign-key"])
    throw new PipelineError(
      "E_USAGE",
      "--provenance needs --sign-key: the provenance is attached as a signed attestation",
      { exitCode: 2 },
    );
  if (a["sign-legacy"] && !a["sign-key"])
    throw new PipelineError("E_USAGE", "--sign-legacy needs --sign-key", { exitCode: 2 });
  if (a["provenance-lockfile"]?.length && !a.provenance)
    throw new PipelineError("E_USAGE", "--provenance-lockfile goes with --provenance", { exitCode: 2 });
  // Signing's modules (tweetnacl among them) load only when asked for: a plain push starts as fast as it can.
  const lockfileArgs = a["provenance-lockfile"] ?? [];
  const lockfiles = lockfileArgs.length
    ? await (await import("../../sign/provenance.js")).lockfileDigests(
        lockfileArgs.map((file) => ({ name: file, file: resolve(io.cwd, file) })),
      )
    : [];
  // The key is opened before anything is pushed: a wrong password fails here, not after the upload.
  const signingKey = a["sign-key"] ? await openSigningKey(a["sign-key"], io.env, a["sign-password-file"]) : undefined;
  const meta = await pushLayouts(
    [{ name: "default", layoutDir: layoutDirOf(a.source), sbomFile: a.sbom }],
    target,
    tags,
    {
      keychain: await keychainFor(a, target.registry, io),
      insecure: a.insecure,
      progress: progressFor(io),
      log: io.debug,
      platforms: parsePlatformList(a.platform, "--platform"),
      signingKey,
      legacySignature: a["sign-legacy"],
      // The minimum transfer rate of every server the push reads ($PIPELINE_MIN_TRANSFER_RATE), as a pull's.
      transfer: transferRateOf(resolveLimits({}, io.env)),
      ...(a.provenance
        ? {
            provenance: {
              invocation: { command: "pipeline push", repository: a.repository, tags, platforms: a.platform ?? [] },
              lockfiles,
            },
          }
        : {}),
    },
  );
  writeMetadata(a["metadata-out"], meta);
  io.stderr(summary(meta));
  if (a.json) {
    // Unset optional fields (sbom, signature, ...) are left out by JSON.stringify; `manifests` is always a list.
    const fields = Object.fromEntries(JSON_FIELDS.map((k) => [k, meta[k]]));
    io.stdout(JSON.stringify({ ...fields, manifests: meta.manifests ?? [] }));
  } else io.stdout(meta.reference);
}
