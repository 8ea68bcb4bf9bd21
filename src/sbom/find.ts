/**
 * Finding an image's SBOM: in a registry, the newest `application/spdx+json` referrer of the image's manifest
 * (referrers API, else the `sha256-<hex>` fallback tag) whose layer is the document; in an OCI layout, a
 * referrer listed in its index.json, else the `<DIR>.spdx.json` file the image rule writes beside the layout.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Keychain } from "../registry-auth/keychain";
import { PipelineError } from "../errors";
import { readBlobVerified, readIndexJson, readLayout } from "../layout/read";
import { parseManifestDescriptors } from "../oci/descriptor";
import type { Digest } from "../oci/digest";
import type { Reference } from "../oci/reference";
import type { Descriptor, Manifest } from "../oci/types";
import { RegistryClient } from "../registry/client";
import type { Logger } from "../registry/http";
import { listReferrers, referrersTag } from "../registry/referrers";
import { registryText } from "../registry/registry-text";
import { SPDX_MEDIA_TYPE } from "./spdx";

export interface FoundSbom {
  /** The SPDX document's bytes, as stored. */
  bytes: Buffer;
  /** The image (subject) digest. */
  subject: Digest;
  /** Where it was found: "referrers" (API), "tag" (fallback tag), "layout" (index.json), "file" (beside the layout). */
  via: "referrers" | "tag" | "layout" | "file";
  /** The referrer manifest's digest, or the file's path. */
  source: string;
}

function noSbom(what: string, subject: Digest, looked: string): PipelineError {
  return new PipelineError(
    "E_NO_SBOM",
    `${what}: no SBOM (an ${SPDX_MEDIA_TYPE} referrer of ${subject}) found; looked at ${looked}`,
  );
}

function spdxLayer(manifest: Manifest, where: string): Descriptor {
  const layer = manifest.layers?.find((l) => l.mediaType === SPDX_MEDIA_TYPE) ?? manifest.layers?.[0];
  if (!layer) throw new PipelineError("E_REGISTRY", `${where}: the SBOM manifest has no layer`);
  return layer;
}

function parseManifest(bytes: Buffer, where: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new PipelineError(
      "E_REGISTRY",
      `${where}: the SBOM manifest is not JSON (${registryText((e as Error).message)})`,
    );
  }
  const manifest = parseManifestDescriptors(doc, `${where}: the SBOM manifest`);
  if (!manifest)
    throw new PipelineError("E_REGISTRY", `${where}: the SBOM manifest is not an image manifest (no config or layers)`);
  return manifest;
}

export async function findRemoteSbom(
  ref: Reference,
  opts: { keychain?: Keychain; insecure?: boolean; log?: Logger; scheme?: "http" | "https" } = {},
): Promise<FoundSbom> {
  const client = new RegistryClient(ref.registry, {
    keychain: opts.keychain,
    insecure: opts.insecure,
    log: opts.log,
    scheme: opts.scheme,
  });
  const shown = `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
  const subject = ref.digest ?? (await client.getManifest(ref.repository, ref.tag ?? "latest")).digest;
  const found = await listReferrers(client, ref.repository, subject, { artifactTypes: [SPDX_MEDIA_TYPE] });
  const desc = found.manifests[found.manifests.length - 1];
  if (!desc) {
    throw noSbom(
      shown,
      subject,
      `the referrers API and the fallback tag ${referrersTag(subject)} of ${ref.registry}/${ref.repository}`,
    );
  }
  const where = `${ref.registry}/${ref.repository}@${desc.digest}`;
  const manifest = parseManifest((await client.getManifest(ref.repository, desc.digest)).bytes, where);
  const bytes = await client.getBlob(ref.repository, spdxLayer(manifest, where));
  return { bytes, subject, via: found.via, source: desc.digest };
}

/** `oci:DIR[:NAME]`: a referrer in index.json, else `DIR.spdx.json`. */
export function findLayoutSbom(dir: string, refName?: string): FoundSbom {
  const image = readLayout(dir, { refName });
  const index = readIndexJson(dir);
  for (const desc of [...index.manifests].reverse()) {
    if (desc.artifactType !== SPDX_MEDIA_TYPE) continue;
    const manifest: Manifest & { subject?: Descriptor } = parseManifest(
      readBlobVerified(dir, desc),
      `oci:${dir}@${desc.digest}`,
    );
    if (manifest.subject?.digest !== image.digest) continue;
    return {
      bytes: readBlobVerified(dir, spdxLayer(manifest, `oci:${dir}`)),
      subject: image.digest,
      via: "layout",
      source: desc.digest,
    };
  }
  const beside = `${dir.replace(/\/+$/, "")}.spdx.json`;
  if (existsSync(beside)) return { bytes: readFileSync(beside), subject: image.digest, via: "file", source: beside };
  throw noSbom(`oci:${dir}`, image.digest, `its index.json and ${beside}`);
}
